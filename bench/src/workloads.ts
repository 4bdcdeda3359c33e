/**
 * The workloads, written once against `Session` (types.ts). Each
 * measurement opens a fresh session in a fresh namespace, is bounded by a
 * message count and by a time cap (a contender that does not finish in time
 * is recorded as partial with what it did), then closes and removes every
 * broker object it created.
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { selectiveType, type Sizes } from "./config.ts"
import { forkOnDist } from "./env.ts"
import { percentile, summarize } from "./stats.ts"
import { DATA, body, type Body, type Broker, type Contender, type Session } from "./types.ts"
import type { SelectiveEvent, SelectiveSpec } from "./selective-child.ts"

export const WORKLOADS = ["publish", "publish-batch", "end-to-end", "latency", "rpc", "fan-out", "selective", "memory", "import"] as const
export type Workload = (typeof WORKLOADS)[number]

/** One measurement's numbers (metric name → value) and whether it finished. */
export interface Measurement {
  readonly metrics: Record<string, number>
  readonly partial?: string
}

export interface Ctx {
  readonly broker: Broker
  readonly url: string
  readonly sizes: Sizes
  readonly ns: string
  readonly log: (line: string) => void
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)))

/** Resolves with the value, or with undefined once `ms` passed. */
const within = <A>(p: Promise<A>, ms: number): Promise<A | undefined> => {
  let t: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(t))
}

/** A count that wakes a waiter when it reaches a target. */
class Counter {
  n = 0
  last = 0
  private target = Number.POSITIVE_INFINITY
  private wake: (() => void) | undefined
  inc(): void {
    this.n++
    this.last = performance.now()
    if (this.n >= this.target) {
      const w = this.wake
      this.wake = undefined
      this.target = Number.POSITIVE_INFINITY
      w?.()
    }
  }
  /** Waits until n ≥ target or the deadline (performance.now() based). */
  async until(target: number, deadline: number): Promise<boolean> {
    if (this.n >= target) return true
    const reached = new Promise<void>((r) => {
      this.target = target
      this.wake = r
    })
    const ok = await within(reached, Math.max(0, deadline - performance.now()))
    return ok !== undefined || this.n >= target
  }
}

/**
 * Confirmed publishes with at most `window` outstanding; stops issuing at the
 * deadline and waits a little for what is in flight.
 */
export const publishWindowed = async (s: Session, n: number, window: number, deadline: number, make: (seq: number) => Body = body) => {
  let issued = 0
  let inflight = 0
  let confirmed = 0
  let failed = 0
  let firstError: unknown
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  const pump = (): void => {
    while (inflight < window && issued < n && performance.now() < deadline) {
      const seq = issued++
      inflight++
      s.publish(make(seq)).then(
        () => void confirmed++,
        (e: unknown) => {
          failed++
          firstError ??= e
        },
      ).finally(() => {
        inflight--
        pump()
      })
    }
    if (inflight === 0 && (issued >= n || performance.now() >= deadline)) finish()
  }
  pump()
  await within(finished, Math.max(0, deadline - performance.now()) + 10_000)
  return { confirmed, failed, firstError }
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 300)

/**
 * Every measurement stops at its message count or its time cap, whichever
 * comes first (the rate is over what was done; `n` records how many). Only
 * failures, or nothing done at all, make a measurement partial.
 */
const partialOf = (what: string, done: number, n: number, failed = 0, err?: unknown): string | undefined =>
  failed === 0 && done > 0 ? undefined : `${what}: ${done}/${n}${failed ? `, ${failed} failed (${describe(err)})` : ""}`

// ---------------------------------------------------------------- workloads

/** Sequence numbers from here on are warm-up messages, not measured. */
const WARM = 1_000_000_000
const WARM_COUNT = 20

/** Sends warm-up messages and waits until every consuming group saw them (consumers attached, connections warm). */
const warmUp = async (s: Session, warm: Counter | undefined, groups: number): Promise<void> => {
  for (let k = 0; k < WARM_COUNT; k++) await s.publish(body(WARM + k))
  if (warm) await warm.until(WARM_COUNT * groups, performance.now() + 30_000)
}

/** Routes warm-up messages to one counter and measured ones to a handler. */
const split = (warm: Counter, measured: (b: Body) => void) => (b: Body): void => (b.seq >= WARM ? warm.inc() : measured(b))

const publishOne = async (s: Session, z: Sizes): Promise<Measurement> => {
  await s.declareGroup("g")
  await warmUp(s, undefined, 0)
  const t0 = performance.now()
  const r = await publishWindowed(s, z.publishMessages, z.window, t0 + z.capMs)
  const secs = (performance.now() - t0) / 1000
  return { metrics: { rate: r.confirmed / secs, n: r.confirmed }, partial: partialOf("confirmed", r.confirmed, z.publishMessages, r.failed, r.firstError) }
}

const publishBatches = async (s: Session, z: Sizes): Promise<Measurement> => {
  await s.declareGroup("g")
  await s.publishBatch(Array.from({ length: WARM_COUNT }, (_, k) => body(WARM + k)))
  const t0 = performance.now()
  const deadline = t0 + z.capMs
  let done = 0
  let seq = 0
  while (done < z.publishMessages && performance.now() < deadline) {
    const batch = Array.from({ length: z.batch }, () => body(seq++))
    const ok = await within(s.publishBatch(batch).then(() => true), deadline - performance.now() + 10_000)
    if (!ok) break
    done += batch.length
  }
  const secs = (performance.now() - t0) / 1000
  return { metrics: { rate: done / secs, n: done }, partial: partialOf("confirmed", done, z.publishMessages) }
}

const endToEnd = async (s: Session, z: Sizes): Promise<Measurement> => {
  const got = new Counter()
  const warm = new Counter()
  const sub = await s.consume("g", split(warm, () => got.inc()), { prefetch: z.e2ePrefetch, concurrency: z.e2eConcurrency })
  await warmUp(s, warm, 1)
  const t0 = performance.now()
  const deadline = t0 + z.capMs
  const r = await publishWindowed(s, z.e2eMessages, z.window, deadline)
  await got.until(z.e2eMessages, deadline)
  const end = got.n >= z.e2eMessages ? got.last : performance.now()
  await within(sub.close(), 10_000)
  return { metrics: { rate: got.n / ((end - t0) / 1000), n: got.n }, partial: partialOf("consumed", got.n, z.e2eMessages, r.failed, r.firstError) }
}

const latency = async (s: Session, z: Sizes): Promise<Measurement> => {
  const total = z.latencyRate * z.latencySeconds
  const lat = new Float64Array(total).fill(Number.NaN)
  const got = new Counter()
  const warm = new Counter()
  const sub = await s.consume("g", split(warm, (b) => {
    if (b.seq < total && Number.isNaN(lat[b.seq]!)) {
      lat[b.seq] = performance.now() - b.ts
      got.inc()
    }
  }), { prefetch: z.e2ePrefetch, concurrency: z.e2eConcurrency })
  await warmUp(s, warm, 1)
  let failed = 0
  let firstError: unknown
  const t0 = performance.now() + 20
  const interval = 1_000 / z.latencyRate
  let i = 0
  // The send time is the scheduled time (no coordinated omission): a stalled
  // publisher shows up as latency, not as a lower offered rate.
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1)
      for (; i < due; i++) {
        s.publish({ seq: i, ts: t0 + i * interval, data: DATA }).catch((e: unknown) => {
          failed++
          firstError ??= e
        })
      }
      if (i >= total) {
        clearInterval(tick)
        resolve()
      }
    }, 1)
  })
  await got.until(total, performance.now() + 15_000)
  await within(sub.close(), 10_000)
  const all = Array.from(lat).filter((x) => !Number.isNaN(x))
  const s0 = summarize(all)
  // Three consecutive windows of the run give the spread.
  const third = Math.floor(total / 3)
  const windows = [0, 1, 2].map((w) => summarize(Array.from(lat.subarray(w * third, (w + 1) * third)).filter((x) => !Number.isNaN(x))))
  return {
    metrics: {
      p50: s0.p50,
      p99: s0.p99,
      max: s0.max,
      n: s0.count,
      ...Object.fromEntries(windows.flatMap((w, k) => [[`w${k + 1}p50`, w.p50], [`w${k + 1}p99`, w.p99]])),
    },
    partial: got.n < total || failed ? `received ${got.n}/${total}${failed ? `, ${failed} publishes failed (${describe(firstError)})` : ""}` : undefined,
  }
}

const rpc = async (s: Session, z: Sizes): Promise<Measurement> => {
  if (!s.serve || !s.request) throw new Error("no RPC")
  const server = await s.serve()
  const request = s.request.bind(s)
  let seq = 0
  for (let k = 0; k < 20; k++) await request(seq++) // warm-up (reply consumers, connections)
  // Throughput: rpcInFlight callers, each one request at a time.
  const t0 = performance.now()
  const deadline = t0 + z.capMs
  let done = 0
  let failed = 0
  let firstError: unknown
  const worker = async () => {
    while (done + failed < z.rpcRequests && performance.now() < deadline) {
      try {
        await request(seq++)
        done++
      } catch (e) {
        failed++
        firstError ??= e
      }
    }
  }
  await within(Promise.all(Array.from({ length: z.rpcInFlight }, worker)), z.capMs + 10_000)
  const rate = done / ((performance.now() - t0) / 1000)
  const partialT = partialOf("requests", done, z.rpcRequests, failed, firstError)
  // Latency: one at a time, measured on the second of two equal runs. The first is the serial
  // path's warm-up: a client that batches under load runs other code one at a time, and V8
  // re-optimizes it over ~2,000 requests (bench/FINDINGS.md, "RPC p50 right after the burst").
  const serial = async (): Promise<Array<number>> => {
    const lat: Array<number> = []
    const end = performance.now() + z.rpcSerialCapMs
    while (lat.length < z.rpcSerial && performance.now() < end) {
      const t = performance.now()
      const ok = await within(request(seq++).then(() => true), end - t + 5_000)
      if (!ok) break
      lat.push(performance.now() - t)
    }
    return lat
  }
  await serial()
  const lat = await serial()
  await within(server.close(), 10_000)
  const sorted = Float64Array.from(lat).sort()
  return {
    metrics: { rate, n: done, p50: percentile(sorted, 50), p99: percentile(sorted, 99), serial: lat.length },
    partial: partialT ?? partialOf("serial requests", lat.length, z.rpcSerial),
  }
}

const fanOut = async (s: Session, z: Sizes): Promise<Measurement> => {
  const got = new Counter()
  const warm = new Counter()
  const subs = await Promise.all(Array.from({ length: z.fanoutGroups }, (_, g) => s.consume(`fan${g + 1}`, split(warm, () => got.inc()), { prefetch: z.e2ePrefetch, concurrency: z.e2eConcurrency })))
  await warmUp(s, warm, z.fanoutGroups)
  const expected = z.fanoutMessages * z.fanoutGroups
  const t0 = performance.now()
  const deadline = t0 + z.capMs
  const r = await publishWindowed(s, z.fanoutMessages, z.window, deadline)
  await got.until(expected, deadline)
  const end = got.n >= expected ? got.last : performance.now()
  await within(Promise.all(subs.map((x) => x.close())), 10_000)
  return { metrics: { rate: got.n / ((end - t0) / 1000), n: got.n }, partial: partialOf("deliveries", got.n, expected, r.failed, r.firstError) }
}

// ---------------------------------------------------------------- memory (child process)

export interface ChildReport {
  readonly baselineRssMiB: number
  readonly peakRssMiB: number
  /** Heap in use after a full GC once drained, minus the same before consuming. */
  readonly retainedMiB: number
  readonly consumed: number
  readonly seconds: number
  readonly error?: string
}

const runChild = (c: Contender, ctx: Ctx, backlog: number): Promise<ChildReport> =>
  new Promise((resolve) => {
    // On dist/ like the raw clients' plain .js (env.ts distEnv): main.ts builds it first.
    const child = forkOnDist(
      new URL("./child.ts", import.meta.url),
      { BENCH_CHILD: JSON.stringify({ broker: ctx.broker, url: ctx.url, contender: c.name, ns: ctx.ns, group: "mem", count: backlog, prefetch: ctx.sizes.memoryPrefetch, capMs: ctx.sizes.drainCapMs }) },
      ["ignore", "ignore", "pipe", "ipc"],
    )
    let err = ""
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()).slice(-2_000))
    let report: ChildReport | undefined
    child.on("message", (m) => (report = m as ChildReport))
    const kill = setTimeout(() => child.kill("SIGKILL"), ctx.sizes.drainCapMs + 30_000)
    child.on("exit", (code) => {
      clearTimeout(kill)
      resolve(report ?? { baselineRssMiB: Number.NaN, peakRssMiB: Number.NaN, retainedMiB: Number.NaN, consumed: 0, seconds: Number.NaN, error: `child exited ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}` })
    })
  })

const memory = async (s: Session, z: Sizes, c: Contender, ctx: Ctx, backlog: number): Promise<Measurement> => {
  await s.declareGroup("mem")
  let seq = 0
  const deadline = performance.now() + z.fillCapMs
  while (seq < backlog && performance.now() < deadline) {
    const batch = Array.from({ length: Math.min(z.batch, backlog - seq) }, () => body(seq++))
    await s.publishBatch(batch)
  }
  if (seq < backlog) throw new Error(`could not fill the backlog (${seq}/${backlog})`)
  await sleep(200)
  const r = await runChild(c, ctx, backlog)
  if (r.error && r.consumed === 0) throw new Error(r.error)
  return {
    metrics: { peakRssMiB: r.peakRssMiB, baselineRssMiB: r.baselineRssMiB, growthMiB: r.peakRssMiB - r.baselineRssMiB, retainedMiB: r.retainedMiB, drainRate: r.consumed / r.seconds, n: r.consumed },
    partial: r.consumed < backlog ? `consumed ${r.consumed}/${backlog} in the time cap${r.error ? ` (${r.error})` : ""}` : undefined,
  }
}

// ---------------------------------------------------------------- selective (child process)

const SELECTIVE_GROUP = "sel"

/** The child's events, awaited one kind at a time with a deadline. */
class Events {
  private readonly seen: Array<SelectiveEvent> = []
  private wake: (() => void) | undefined
  push(e: SelectiveEvent): void {
    this.seen.push(e)
    this.wake?.()
  }
  async next<K extends SelectiveEvent["event"]>(kind: K, ms: number): Promise<Extract<SelectiveEvent, { event: K }> | undefined> {
    const deadline = performance.now() + ms
    for (;;) {
      const i = this.seen.findIndex((e) => e.event === kind || e.event === "report")
      if (i >= 0) {
        const e = this.seen[i]!
        if (e.event !== kind) return undefined // the child gave up (its report says why)
        this.seen.splice(i, 1)
        return e as Extract<SelectiveEvent, { event: K }>
      }
      const left = deadline - performance.now()
      if (left <= 0) return undefined
      await within(new Promise<void>((r) => (this.wake = r)), left)
    }
  }
  report(): Extract<SelectiveEvent, { event: "report" }> | undefined {
    return this.seen.find((e): e is Extract<SelectiveEvent, { event: "report" }> => e.event === "report")
  }
}

/**
 * One group subscribed to one of `selectiveTypes` event types published
 * round-robin: the consumer (a child process: selective-child.ts) reports its
 * CPU time and the bytes its connections read per message of its type it
 * handled. The type is the last of the round, so when its last message
 * arrives every message published before it has been offered to a reader
 * that filters. Omnibus ÷ raw is the cost of Omnibus' layout.
 */
const selective = async (s: Session, z: Sizes, c: Contender, ctx: Ctx): Promise<Measurement> => {
  if (!s.publishTyped) throw new Error("no typed publish")
  const publishTyped = s.publishTyped.bind(s)
  const types = z.selectiveTypes
  const index = types - 1
  const type = selectiveType(index)
  const count = Math.floor(z.selectiveMessages / types)
  await s.declareGroup(SELECTIVE_GROUP, type)
  const spec: SelectiveSpec = { broker: ctx.broker, url: ctx.url, contender: c.name, ns: ctx.ns, group: SELECTIVE_GROUP, type, index, types, warm: WARM, count, prefetch: z.e2ePrefetch }
  const child = fork(fileURLToPath(new URL("./selective-child.ts", import.meta.url)), [], {
    env: { ...process.env, BENCH_SELECTIVE: JSON.stringify(spec) },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  })
  let err = ""
  child.stderr?.on("data", (d: Buffer) => void (err = (err + d.toString()).slice(-2_000)))
  const events = new Events()
  child.on("message", (m) => events.push(m as SelectiveEvent))
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)))
  const failure = (what: string) => new Error(`${what}${events.report()?.error ? `: ${events.report()!.error}` : ""}${err ? ` (${err.trim().split("\n").slice(-2).join(" | ")})` : ""}`)
  try {
    if (!(await events.next("subscribed", 60_000))) throw failure("the consumer did not subscribe")
    // Warm-up: one message of every type per round until the consumer saw its own (connections, fetch loops, assignment).
    const warmDeadline = performance.now() + 30_000
    let warm = false
    for (let round = 0; !warm && performance.now() < warmDeadline; round++) {
      await publishTyped(Array.from({ length: types }, (_, k) => ({ type: selectiveType(k), body: body(WARM + k) })))
      warm = (await events.next("warm", 2_000)) !== undefined
    }
    if (!warm) throw failure("the consumer saw no warm-up message of its type")
    child.send({ cmd: "start" })
    if (!(await events.next("started", 10_000))) throw failure("the consumer did not start")
    // Paced at the same offered rate for every contender, so each consumer is measured over the same time
    // (what it spends waiting for messages counts too); a publisher that falls behind shows in `seconds`.
    const t0 = performance.now()
    const deadline = t0 + z.fillCapMs + (z.selectiveMessages / z.selectiveRate) * 1000
    const slice = Math.max(1, Math.round(z.selectiveRate / 50)) // a batch every 20 ms
    let seq = 0
    while (seq < z.selectiveMessages && performance.now() < deadline) {
      await sleep(t0 + (seq / z.selectiveRate) * 1000 - performance.now())
      await publishTyped(Array.from({ length: Math.min(slice, z.selectiveMessages - seq) }, () => ({ type: selectiveType(seq % types), body: body(seq++) })))
    }
    const published = Math.floor(seq / types) + (seq % types > index ? 1 : 0)
    // Everything of its type that was published, or what arrived by the deadline.
    const r = (await events.next("report", published < count ? 5_000 : 30_000)) ?? (child.send({ cmd: "stop" }), await events.next("report", 10_000))
    const seconds = (performance.now() - t0) / 1000
    if (!r) throw failure("the consumer did not report")
    child.send({ cmd: "stop" }) // it closes its subscription and session, then exits
    return {
      metrics: { cpuUsPerMsg: r.cpuUs / r.handled, bytesPerMsg: r.bytesRead / r.handled, cpuMs: r.cpuUs / 1000, readMiB: r.bytesRead / 2 ** 20, sockets: r.sockets, published: seq, seconds, n: r.handled },
      partial: r.error || r.wrong || r.handled < count ? `handled ${r.handled}/${count} of its type${r.wrong ? `, ${r.wrong} of other types` : ""}${r.error ? ` (${r.error})` : ""}` : undefined,
    }
  } catch (e) {
    child.kill("SIGKILL")
    throw e
  } finally {
    if ((await within(exited, 15_000)) === undefined) child.kill("SIGKILL")
  }
}

// ---------------------------------------------------------------- dispatch

export const groupsOf = (w: Workload, z: Sizes): Array<string> =>
  w === "fan-out" ? Array.from({ length: z.fanoutGroups }, (_, g) => `fan${g + 1}`) : w === "memory" ? ["mem"] : w === "selective" ? [SELECTIVE_GROUP] : ["g"]

export const runWorkload = async (w: Workload, c: Contender, ctx: Ctx, backlog?: number): Promise<Measurement> => {
  const s = await c.open(ctx.ns)
  try {
    switch (w) {
      case "publish":
        return await publishOne(s, ctx.sizes)
      case "publish-batch":
        return await publishBatches(s, ctx.sizes)
      case "end-to-end":
        return await endToEnd(s, ctx.sizes)
      case "latency":
        return await latency(s, ctx.sizes)
      case "rpc":
        return await rpc(s, ctx.sizes)
      case "fan-out":
        return await fanOut(s, ctx.sizes)
      case "selective":
        return await selective(s, ctx.sizes, c, ctx)
      case "memory":
        return await memory(s, ctx.sizes, c, ctx, backlog ?? ctx.sizes.memoryBacklogs.at(-1)!)
      case "import":
        throw new Error("the import workload needs no session: main.ts runs it (import-cost.ts)")
    }
  } finally {
    if ((await within(s.close().then(() => true), 15_000)) === undefined) ctx.log(`    (close of ${c.name} did not finish in 15 s)`)
    await within(c.cleanup(ctx.ns, groupsOf(w, ctx.sizes)).catch((e: unknown) => ctx.log(`    (cleanup of ${c.name}: ${describe(e)})`)), 30_000)
  }
}

export { describe as describeError }
