/** Sizes of the full run and of --quick; --size N scales the message counts. */

/** Event types of the selective workload, `sel.t00` … (both modes). */
export const SELECTIVE_TYPES = 50
export const selectiveType = (k: number): string => `sel.t${String(k).padStart(2, "0")}`

export interface Sizes {
  readonly mode: "full" | "quick"
  /**
   * Repetitions of the throughput and RPC workloads (their median is the cell). Five in a full run:
   * on this machine one 2-second measurement swings ±20 % with the neighbours, and the median of
   * three still moved a cell by ±0.1 between runs of the same code (bench/FINDINGS.md).
   */
  readonly reps: number
  /** Repetitions of the selective workload, at most `reps` (CPU per message varies less than throughput). */
  readonly selectiveReps: number
  /** Confirmed publishes (one-by-one and batched). */
  readonly publishMessages: number
  readonly window: number
  readonly batch: number
  readonly e2eMessages: number
  readonly e2ePrefetch: number
  readonly e2eConcurrency: number
  readonly latencyRate: number
  readonly latencySeconds: number
  readonly rpcInFlight: number
  readonly rpcRequests: number
  readonly rpcSerial: number
  readonly rpcSerialCapMs: number
  readonly fanoutGroups: number
  readonly fanoutMessages: number
  /** Backlog sizes of the memory workload (the last is the headline). */
  readonly memoryBacklogs: ReadonlyArray<number>
  readonly memoryPrefetch: number
  /** Time cap of one throughput measurement: it stops at its count or here, whichever comes first. */
  readonly capMs: number
  /** Repetitions of the memory workload (peak RSS varies little; each costs a 100k fill and drain). */
  readonly memoryReps: number
  readonly fillCapMs: number
  readonly drainCapMs: number
  /** Fresh processes per contender in the import workload (median). */
  readonly importSamples: number
  /** Selective workload: event types published round-robin, messages in all (the consumer's type gets 1/types of them) and their offered rate. */
  readonly selectiveTypes: number
  readonly selectiveMessages: number
  readonly selectiveRate: number
}

export const sizes = (quick: boolean, size?: number): Sizes => {
  const base: Sizes = quick
    ? {
        mode: "quick",
        reps: 1,
        selectiveReps: 1,
        publishMessages: 3_000,
        window: 1_000,
        batch: 1_000,
        e2eMessages: 3_000,
        e2ePrefetch: 1_000,
        e2eConcurrency: 100,
        latencyRate: 2_000,
        latencySeconds: 5,
        rpcInFlight: 64,
        rpcRequests: 1_000,
        rpcSerial: 100,
        rpcSerialCapMs: 1_000,
        fanoutGroups: 5,
        fanoutMessages: 1_000,
        memoryBacklogs: [5_000],
        memoryPrefetch: 100,
        capMs: 1_200,
        memoryReps: 1,
        fillCapMs: 10_000,
        drainCapMs: 10_000,
        importSamples: 5,
        selectiveTypes: SELECTIVE_TYPES,
        selectiveMessages: 10_000,
        selectiveRate: 5_000,
      }
    : {
        mode: "full",
        reps: 5,
        selectiveReps: 3,
        publishMessages: 100_000,
        window: 1_000,
        batch: 1_000,
        e2eMessages: 100_000,
        e2ePrefetch: 1_000,
        e2eConcurrency: 100,
        latencyRate: 2_000,
        latencySeconds: 20,
        rpcInFlight: 64,
        rpcRequests: 20_000,
        rpcSerial: 2_000,
        rpcSerialCapMs: 1_500,
        fanoutGroups: 5,
        fanoutMessages: 20_000,
        memoryBacklogs: [10_000, 100_000],
        memoryPrefetch: 100,
        capMs: 2_000,
        memoryReps: 1,
        fillCapMs: 30_000,
        drainCapMs: 40_000,
        importSamples: 15,
        selectiveTypes: SELECTIVE_TYPES,
        selectiveMessages: 50_000,
        selectiveRate: 5_000,
      }
  if (size === undefined) return base
  const k = size / base.publishMessages
  const scale = (n: number) => Math.max(base.batch, Math.round((n * k) / base.batch) * base.batch)
  return {
    ...base,
    publishMessages: scale(base.publishMessages),
    e2eMessages: scale(base.e2eMessages),
    fanoutMessages: scale(base.fanoutMessages),
    selectiveMessages: scale(base.selectiveMessages),
    rpcRequests: Math.max(100, Math.round(base.rpcRequests * k)),
    memoryBacklogs: base.memoryBacklogs.map(scale),
  }
}
