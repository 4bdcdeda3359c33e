/** What the transport shares with its consumers, RPC servers and stores. */
import type { GroupSpec } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import type { Keys } from "./keys.ts"
import type { ScriptedRedis } from "./scripts.ts"

export interface AdapterContext {
  readonly keys: Keys
  /** The command connection (publishes, acks, scripts). Never blocked. */
  readonly cmd: ScriptedRedis
  /** Claim idle time: an entry unacked and not kept alive this long is redelivered. */
  readonly leaseMs: number
  /** Period of crash-redelivery sweeps and delayed-retry promotion. */
  readonly sweepMs: number
  readonly isOpen: () => boolean
  /** Dead-link detection period (0 = off): a blocking read that outlives its block time by this much drops its connection. */
  readonly heartbeatMs: number
  /** A dedicated connection for blocking reads (XREADGROUP BLOCK, BLMPOP). */
  openBlocker(name: string): Promise<Redis>
  /**
   * The transport's connection for settlements (acks, retries, dead letters,
   * leases), opened with the first consumer: on `cmd` an ack would queue
   * behind every publish in flight, and the delivery holds its prefetch slot
   * until the ack is confirmed.
   */
  settler(): Promise<ScriptedRedis>
  /** Groups declared through this transport, re-declared after a reconnect (a restarted server may have lost them). */
  readonly declared: Map<string, GroupSpec>
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Resolves after this turn's callbacks and microtasks. A loop that blocks again (BLMPOP) right after
 * handing out what it popped writes that command before the handlers' own commands (the reply, the
 * next request): one socket write, ~25 µs on this VM, added to every round trip it is waiting on.
 */
export const afterThisTurn = (): Promise<void> => new Promise((r) => setImmediate(r))

/** A one-shot wake-up for loops that wait for a free slot. */
export class Signal {
  private waiters: Array<() => void> = []
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done)
        resolve()
      }, ms)
      this.waiters.push(done)
    })
  }
  notify(): void {
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w()
  }
}

/** Asks the server to end a blocking command of `blocker` (it returns as on timeout). */
export const unblock = async (cmd: Redis, blockerId: number | undefined): Promise<void> => {
  if (blockerId === undefined) return
  try {
    await cmd.call("CLIENT", "UNBLOCK", blockerId, "TIMEOUT")
  } catch {
    // the blocker is gone already
  }
}

/**
 * Tracks a blocking connection's server-side client id across reconnects. Not on a cluster
 * client: its CLIENT ID and CLIENT UNBLOCK would go to any primary, where the id names another
 * connection; a stopping loop there ends when its blocking read times out (at most a sweep period).
 */
export const trackClientId = (blocker: Redis, set: (id: number) => void): void => {
  if (blocker.isCluster) return
  const refresh = () => {
    blocker.client("ID").then((id) => set(Number(id)), () => {})
  }
  blocker.on("ready", refresh)
  refresh()
}
