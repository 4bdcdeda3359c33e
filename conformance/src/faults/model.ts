/**
 * Case 34, the model check: a seeded random schedule of publishes (each
 * message carries its fate: succeed, fail n times, always fail, permanent
 * error), consumer crashes (core's `crash(bus)`), subscription closes and
 * faults of the broker itself, checked against the model:
 *
 * - nothing lost: every confirmed message is handled or dead-lettered in every group
 * - fates: a message failing fewer times than the configured attempts is handled,
 *   one that always fails or throws PermanentError is dead-lettered
 * - dead-lettered after exactly the configured attempts: crashes, lost leases and
 *   releases are redeliveries, not attempts, so the handler never sees attempt > A
 *   and a dead letter of a failing message says attempts = A (1 for PermanentError);
 *   a healthy message reaches the dead letters only as poison (RedeliveriesExhausted),
 *   and only if more than maxRedeliveries disruptions caught it in flight
 * - per-key order in the ordered group, except for messages a disruption caught in flight
 * - duplicates only for messages a disruption caught in flight; never in the idempotent group
 *
 * One engine (`runModelCheck`) for whoever owns the broker: what a fault of the broker is
 * and which URL the buses use are its parameters (`ModelTarget`). The fault suite's case 34
 * (below) restarts its one broker; the cluster suite's C-model (conformance/src/clusters/model.ts)
 * kills and restarts nodes of a three-node cluster.
 *
 * The seed is printed; OMNIBUS_SEED=<seed> replays the same schedule
 * (operations and fates; broker timing stays real). OMNIBUS_MODEL_STEPS sets the length.
 */
import { randomUUID } from "node:crypto"
import { PermanentError } from "@omnibus/core"
import type { Bus, HandlerEvent, IdempotencyStore, Message, Subscription, TransportOptions } from "@omnibus/core"
import { expect } from "vitest"
import { delay, errorText } from "../wait.ts"
import { defineFault } from "./context.ts"
import type { FaultSuite } from "./context.ts"
import type { FaultMetrics } from "./recorder.ts"

/** mulberry32: small, fast, good enough for schedules. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ATTEMPTS = 3
const MAX_REDELIVERIES = 5
const KEYS = 8

type Fate = { readonly kind: "ok" } | { readonly kind: "fail"; readonly times: number } | { readonly kind: "always" } | { readonly kind: "permanent" }

interface Published {
  readonly id: string
  readonly key: string
  readonly seq: number
  readonly fate: Fate
  readonly publishedAt: number
  confirmed: boolean
}

interface Invocation {
  readonly attempt: number
  readonly at: number
}

type GroupName = "ordered" | "unordered" | "idempotent"

interface GroupState {
  readonly name: GroupName
  readonly group: string
  readonly invocations: Map<string, Array<Invocation>>
  /** Handler completions (success) per id, with times. */
  readonly handled: Map<string, Array<number>>
  /** dead-letter events per id: attempt and time. */
  readonly deadLettered: Map<string, { attempt: number; at: number; reason: string }>
  /** Every outcome event per id (for the diagnosis of a failure). */
  readonly events: Map<string, Array<string>>
}

interface Host {
  bus: Bus
  readonly subs: Map<GroupName, Subscription>
  readonly groups: ReadonlyArray<GroupName>
}

/** What the engine needs of a suite's case context (the fault suite's and the cluster suite's both fit). */
export interface ModelContext {
  readonly metrics: FaultMetrics
  key(...words: ReadonlyArray<string | number>): string
  group(name?: string): string
  connect(url: string, options?: TransportOptions): Promise<Bus>
  crash(bus: Bus): Promise<void>
  store(): IdempotencyStore
  eventually(predicate: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs?: number): Promise<void>
  note(line: string): void
}

/** What the engine gives the broker's faults. */
export interface ModelSchedule {
  readonly seed: number
  readonly steps: number
  /** Waits until every publish issued so far is confirmed or rejected. */
  settlePublishes(): Promise<void>
  /**
   * Records that the broker was disturbed from `from` to `to` (performance.now() times; a point
   * when `to` is left out): a message in flight at any time of it counts as caught in flight.
   */
  disrupted(from: number, to?: number): void
}

/** The faults of the broker itself in the schedule. */
export interface BrokerFaults {
  /** What the note calls them, e.g. "broker restarts". */
  readonly label: string
  /** The schedule drew a broker fault (about 1 % of the steps after the first fifth); resolves true if one happened. */
  drawn?(step: number): Promise<boolean>
  /** Before every step; resolves true if a fault began. */
  beforeStep?(step: number): Promise<boolean>
  /** After the schedule, before the wait for every message: leaves the broker whole. */
  finish?(): Promise<void>
  /** Appended to the recorded note (e.g. which nodes went down and for how long). */
  describe?(): string
}

export interface ModelTarget {
  /** The URL of each new bus (a cluster's lists its nodes in a seeded-random order). */
  url(): string
  readonly options: TransportOptions
  /** Scales the crash and close probabilities (1: about 2.5 % crashes and 3.5 % closes per step). */
  readonly disruptionRate: number
  faults(schedule: ModelSchedule): BrokerFaults
}

/** The seed of this run: OMNIBUS_SEED replays one, otherwise a random one. */
export const modelSeed = (): number => process.env.OMNIBUS_SEED !== undefined ? Number(process.env.OMNIBUS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0

/** Runs the model check with a seed and a step count (OMNIBUS_MODEL_STEPS overrides `defaultSteps`); failures name the seed. */
export const runModelCheck = async (ctx: ModelContext, defaultSteps: number, target: (seed: number) => ModelTarget): Promise<void> => {
  const seed = modelSeed()
  const steps = Number(process.env.OMNIBUS_MODEL_STEPS ?? defaultSteps)
  ctx.note(`seed ${seed} (replay: OMNIBUS_SEED=${seed}), ${steps} steps`)
  try {
    await modelCheck(ctx, seed, steps, target(seed))
  } catch (e) {
    throw new Error(`model check failed with seed ${seed} (replay: OMNIBUS_SEED=${seed}): ${errorText(e)}`, { cause: e })
  }
}

export const registerModelCheck = (suite: FaultSuite): void => {
  defineFault(suite, "34", async (ctx) => {
    const b = ctx.broker
    // restarts cost seconds on the JVM brokers
    const maxRestarts = b.kind === "rabbitmq" ? 2 : b.kind === "kafka" ? 1 : 4
    await runModelCheck(ctx, suite.harness.modelSteps ?? 2_000, () => ({
      url: () => b.url,
      options: { leaseMs: ctx.harness.leaseMs, connectTimeoutMs: 15_000 },
      disruptionRate: ctx.harness.modelDisruptionRate ?? 1,
      faults: (schedule) => {
        let restarts = 0
        return {
          label: "broker restarts",
          drawn: async (step) => {
            if (restarts >= maxRestarts || step <= schedule.steps * 0.2) return false
            restarts++
            await schedule.settlePublishes()
            schedule.disrupted(performance.now())
            await b.kill9()
            await b.restart()
            schedule.disrupted(performance.now())
            return true
          },
        }
      },
    }))
  }, { timeoutMs: 240_000 })
}

const modelCheck = async (ctx: ModelContext, seed: number, steps: number, target: ModelTarget): Promise<void> => {
  const rand = prng(seed)
  // handlers draw from their own stream: their timing must not shift the schedule (replays)
  const work = prng(seed ^ 0x9e3779b9)
  const pick = <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(rand() * xs.length)]!
  const options = target.options
  const store = ctx.store()
  const messages = new Map<string, Published>()
  /** When something disturbed consumers (crash, close: points; faults of the broker: points or spans). */
  const disruptions: Array<{ readonly from: number; readonly to: number }> = []
  const t0 = performance.now()
  const groups: Record<GroupName, GroupState> = {
    ordered: { name: "ordered", group: ctx.group("ord"), invocations: new Map(), handled: new Map(), deadLettered: new Map(), events: new Map() },
    unordered: { name: "unordered", group: ctx.group("unord"), invocations: new Map(), handled: new Map(), deadLettered: new Map(), events: new Map() },
    idempotent: { name: "idempotent", group: ctx.group("idem"), invocations: new Map(), handled: new Map(), deadLettered: new Map(), events: new Map() },
  }
  const pattern = ctx.key("#")
  const push = <V>(m: Map<string, Array<V>>, id: string, v: V) => {
    const list = m.get(id)
    if (list) list.push(v)
    else m.set(id, [v])
  }

  const handlerFor = (g: GroupState) => async (m: Message<unknown>): Promise<void> => {
    push(g.invocations, m.id, { attempt: m.attempt, at: performance.now() })
    const p = messages.get(m.id)
    // a little work, so that crashes and closes catch handlers mid-flight
    if (work() < 0.3) await delay(1 + Math.floor(work() * 4))
    const fate = p?.fate ?? { kind: "ok" }
    if (fate.kind === "permanent") throw new PermanentError("model: permanent")
    if (fate.kind === "always") throw new Error("model: always fails")
    if (fate.kind === "fail" && m.attempt <= fate.times) throw new Error(`model: fails until attempt ${fate.times + 1}`)
    push(g.handled, m.id, performance.now())
  }
  const observeFor = (g: GroupState) => (e: HandlerEvent): void => {
    push(g.events, e.id, `${e.type}@${e.attempt}+${Math.round(performance.now() - t0)}ms`)
    if (e.type === "dead-letter" && !g.deadLettered.has(e.id)) g.deadLettered.set(e.id, { attempt: e.attempt, at: performance.now(), reason: e.error instanceof Error ? e.error.name : "?" })
  }
  const subscribe = (bus: Bus, name: GroupName): Promise<Subscription> => {
    const g = groups[name]
    const retry = { attempts: ATTEMPTS, maxRedeliveries: MAX_REDELIVERIES, backoff: { initial: 20, factor: 2, max: 100, jitter: false } }
    switch (name) {
      case "ordered":
        return bus.subscribe(pattern, handlerFor(g), { group: g.group, concurrency: 4, orderBy: "key", retry, observe: observeFor(g) })
      case "unordered":
        return bus.subscribe(pattern, handlerFor(g), { group: g.group, concurrency: 4, retry, observe: observeFor(g) })
      case "idempotent":
        return bus.subscribe(pattern, handlerFor(g), { group: g.group, concurrency: 4, retry, observe: observeFor(g), idempotency: { store, lease: "2 seconds" } })
    }
  }
  /** What the current step waited for, with times (for the note on a slow step). */
  let phases: Array<string> = []
  const phase = async <A>(what: string, f: () => Promise<A>): Promise<A> => {
    const t = performance.now()
    try {
      return await f()
    } finally {
      phases.push(`${what} ${Math.round(performance.now() - t)} ms`)
    }
  }
  const openHost = async (names: ReadonlyArray<GroupName>): Promise<Host> => {
    const bus = await phase("connect", () => ctx.connect(target.url(), options))
    const host: Host = { bus, subs: new Map(), groups: names }
    for (const n of names) host.subs.set(n, await phase(`subscribe ${n}`, () => subscribe(bus, n)))
    return host
  }
  // the ordered group has one consumer at a time (per-key order across competing consumers is not a promise);
  // the other two groups compete over two buses
  const hosts = [await openHost(["ordered", "unordered", "idempotent"]), await openHost(["unordered", "idempotent"])]
  const publisher = await ctx.connect(target.url(), options)
  const pending = new Set<Promise<void>>()
  const seqs = new Map<string, number>()
  const counts = { publish: 0, crash: 0, close: 0, broker: 0, pause: 0 }
  const faults = target.faults({
    seed,
    steps,
    settlePublishes: async () => { await Promise.all([...pending]) },
    disrupted: (from, to = from) => { disruptions.push({ from, to }) },
  })
  const publishErrors: Array<string> = []

  const publishOne = (): void => {
    const key = `k${Math.floor(rand() * KEYS)}`
    const r = rand()
    const fate: Fate = r < 0.72 ? { kind: "ok" } : r < 0.84 ? { kind: "fail", times: 1 } : r < 0.9 ? { kind: "fail", times: 2 } : r < 0.95 ? { kind: "always" } : { kind: "permanent" }
    const seq = (seqs.get(key) ?? 0) + 1
    seqs.set(key, seq)
    const p: Published = { id: randomUUID(), key, seq, fate, publishedAt: performance.now(), confirmed: false }
    messages.set(p.id, p)
    const done = publisher.publish(ctx.key(key), { seq }, { id: p.id, key }).then(
      () => { p.confirmed = true },
      (e: unknown) => { publishErrors.push(errorText(e)) },
    )
    pending.add(done)
    void done.finally(() => pending.delete(done))
  }

  const rate = Math.max(0, Math.min(1, target.disruptionRate))
  const crashP = 0.025 * rate
  const closeP = 0.035 * rate
  const now = () => { const t = performance.now(); return { from: t, to: t } }
  for (let step = 0; step < steps; step++) {
    const stepStarted = performance.now()
    phases = []
    if (await faults.beforeStep?.(step)) counts.broker++
    const r = rand()
    if (r < 0.9) {
      counts.publish++
      // per-key order needs publish order: publishes of one key are issued in sequence (awaited in batches below)
      publishOne()
    } else if (r < 0.93) {
      counts.pause++
      await delay(Math.floor(rand() * 30))
    } else if (r < 0.93 + crashP) {
      counts.crash++
      const i = Math.floor(rand() * hosts.length)
      const host = hosts[i]!
      disruptions.push(now())
      await phase("crash", () => ctx.crash(host.bus))
      hosts[i] = await openHost(host.groups)
    } else if (r < 0.93 + crashP + closeP) {
      counts.close++
      const host = pick(hosts)
      const name = pick(host.groups)
      disruptions.push(now())
      await phase(`close ${name}`, () => host.subs.get(name)!.close())
      host.subs.set(name, await phase(`subscribe ${name}`, () => subscribe(host.bus, name)))
    } else if (r >= 0.99 && faults.drawn !== undefined) {
      if (await faults.drawn(step)) counts.broker++
    }
    // batch boundary: let publishes confirm (keeps per-key publish order and bounds memory)
    if (step % 25 === 24) await Promise.all([...pending])
    // where a schedule stalls: steps that waited seconds (a subscribe, a connect, publishes to confirm)
    const took = performance.now() - stepStarted
    if (took > 3_000) ctx.note(`step ${step} took ${Math.round(took)} ms (${[...phases, ...(step % 25 === 24 ? ["then the batch's publishes to confirm"] : [])].join(", ") || `r ${r.toFixed(3)}`})`)
  }
  await Promise.all([...pending])
  await faults.finish?.()
  const faultNote = faults.describe?.() ?? ""
  ctx.note(`schedule: ${JSON.stringify(counts)} (broker: ${faults.label}); ${messages.size} messages${faultNote ? `; ${faultNote}` : ""}`)

  const confirmed = [...messages.values()].filter((m) => m.confirmed)
  // The dead-letter destination is the ground truth: a dead-letter whose confirm was lost
  // (the bus went down right after) has no event but is in the store. Read every 2 s while waiting.
  const inDlq = new Map<GroupName, Map<string, { readonly attempts: number; readonly reason: string }>>()
  let lastDlqRead = 0
  const readDlq = async (): Promise<void> => {
    if (performance.now() - lastDlqRead < 2_000) return
    lastDlqRead = performance.now()
    for (const g of Object.values(groups)) {
      const records = await publisher.deadLetters.list(g.group, { limit: 100_000 })
      inDlq.set(g.name, new Map(records.map((r) => [r.id, { attempts: r.failure.attempts, reason: r.failure.errorName }])))
    }
  }
  /** Acked as a duplicate by the idempotency store (its first run may have been lost with its bus). */
  const ackedAsDuplicate = (g: GroupState, id: string) => (g.events.get(id) ?? []).some((e) => e.startsWith("duplicate@"))
  const dlqAttempts = (g: GroupState, id: string): number | undefined => inDlq.get(g.name)?.get(id)?.attempts
  const settled = (g: GroupState, id: string) => g.handled.has(id) || g.deadLettered.has(id) || dlqAttempts(g, id) !== undefined || ackedAsDuplicate(g, id)
  const unsettled = () => {
    const counts = Object.values(groups).map((g) => `${g.name}: ${confirmed.filter((m) => !settled(g, m.id)).length}`).join(", ")
    const examples = Object.values(groups).flatMap((g) => confirmed.filter((m) => !settled(g, m.id)).slice(0, 2).map((m) =>
      `${g.name} ${m.id} key ${m.key} seq ${m.seq} ${JSON.stringify(m.fate)} published +${Math.round(m.publishedAt - t0)}ms, runs ${JSON.stringify(g.invocations.get(m.id)?.map((i) => `${i.attempt}+${Math.round(i.at - t0)}ms`) ?? [])}, events ${JSON.stringify(g.events.get(m.id) ?? [])}`))
    return `${counts}; ${examples.join("; ")}; disruptions at ${JSON.stringify(disruptions.map((d) => d.to === d.from ? Math.round(d.from - t0) : `${Math.round(d.from - t0)}-${Math.round(d.to - t0)}`))}`
  }
  try {
    await ctx.eventually(async () => {
      if (Object.values(groups).every((g) => confirmed.every((m) => settled(g, m.id)))) return true
      await readDlq()
      return Object.values(groups).every((g) => confirmed.every((m) => settled(g, m.id)))
    }, () => `every confirmed message handled or dead-lettered in every group (unsettled: ${unsettled()})`, 90_000)
    lastDlqRead = 0
    await readDlq()
    // dead letters whose outcome event was lost with their bus: take them from the store
    for (const g of Object.values(groups)) {
      for (const [id, r] of inDlq.get(g.name) ?? []) if (!g.deadLettered.has(id)) g.deadLettered.set(id, { attempt: r.attempts, reason: r.reason, at: g.invocations.get(id)?.at(-1)?.at ?? Number.POSITIVE_INFINITY })
    }
  } finally {
    let lost = 0
    let twice = 0
    for (const g of Object.values(groups)) {
      lost += confirmed.filter((m) => !g.handled.has(m.id) && !g.deadLettered.has(m.id)).length
      if (g.name === "idempotent") twice += [...g.handled.values()].filter((h) => h.length > 1).length
    }
    ctx.metrics.sent = messages.size
    ctx.metrics.confirmed = confirmed.length
    ctx.metrics.rejected = messages.size - confirmed.length
    ctx.metrics.lost = lost
    ctx.metrics.handledTwice = twice
    ctx.metrics.note = `seed ${seed}; ${steps} steps: ${counts.publish} publishes, ${counts.crash} crashes, ${counts.close} closes, ${counts.broker} ${faults.label}; 3 groups (ordered, unordered, idempotent), ${ATTEMPTS} attempts${faultNote ? `; ${faultNote}` : ""}`
  }
  expect(publishErrors.filter((e) => !/PublishFailed|BusClosed/.test(e)), "untyped publish errors").toEqual([])

  /** Disruptions while the message was in flight (published, not yet settled) before `until`: those overlapping that span. */
  const disturbances = (m: Published, until: number): number => disruptions.filter((d) => d.to >= m.publishedAt && d.from <= until).length
  const disturbed = (m: Published, until: number): boolean => disturbances(m, until) > 0
  const settledAt = (g: GroupState, id: string): number => g.handled.get(id)?.[0] ?? g.deadLettered.get(id)?.at ?? Number.POSITIVE_INFINITY

  const problems: Array<{ readonly kind: string; readonly text: string }> = []
  const problem = (kind: string, text: string) => { problems.push({ kind, text }) }
  for (const g of Object.values(groups)) {
    for (const m of confirmed) {
      const inv = g.invocations.get(m.id) ?? []
      const handled = g.handled.get(m.id) ?? []
      const dl = g.deadLettered.get(m.id)
      const end = settledAt(g, m.id)
      if (handled.length === 0 && dl === undefined && ackedAsDuplicate(g, m.id)) {
        problem("lost through the idempotency store", `${g.name}: ${m.id} (${m.fate.kind}) acked as a duplicate but never handled nor dead-lettered: runs ${JSON.stringify(inv.map((i) => i.attempt))}, events ${JSON.stringify(g.events.get(m.id) ?? [])}`)
      }
      // fate
      const shouldDeadLetter = m.fate.kind === "always" || m.fate.kind === "permanent"
      if (shouldDeadLetter && handled.length > 0) problem("fate", `${g.name}: ${m.id} (${m.fate.kind}) was handled`)
      const poison = dl !== undefined && dl.reason === "RedeliveriesExhausted"
      // until the dead letter, not the first handling: an ack lost in a crash leaves the message in flight
      if (poison && disturbances(m, dl.at) <= MAX_REDELIVERIES) {
        problem("poison without crashes", `${g.name}: ${m.id} (${JSON.stringify(m.fate)}) dead-lettered as poison after ${disturbances(m, dl.at)} disruptions in flight (max ${MAX_REDELIVERIES} redeliveries): runs ${JSON.stringify(inv.map((i) => i.attempt))}, events ${JSON.stringify(g.events.get(m.id) ?? [])}`)
      }
      if (!shouldDeadLetter && dl !== undefined && !poison) problem("fate", `${g.name}: ${m.id} (${JSON.stringify(m.fate)}) dead-lettered at attempt ${dl.attempt} (${dl.reason}): runs ${JSON.stringify(inv.map((i) => i.attempt))}, events ${JSON.stringify(g.events.get(m.id) ?? [])}`)
      // attempts: crashes are not attempts, so the handler never sees one past the policy
      const over = inv.filter((i) => i.attempt > ATTEMPTS)
      if (over.length > 0) problem("attempt past the policy", `${g.name}: ${m.id} handler ran with attempt ${over.map((i) => i.attempt).join(",")} > ${ATTEMPTS}`)
      if (m.fate.kind === "always" && dl !== undefined && !poison && dl.attempt !== ATTEMPTS) problem("dead-letter attempts", `${g.name}: ${m.id} always failing, dead-lettered at attempt ${dl.attempt} (${dl.reason}), expected ${ATTEMPTS}`)
      if (m.fate.kind === "permanent" && dl !== undefined && !poison && dl.attempt !== 1) problem("dead-letter attempts", `${g.name}: ${m.id} permanent error dead-lettered at attempt ${dl.attempt} (${dl.reason}), expected 1`)
      // duplicates
      if (handled.length > 1) {
        if (g.name === "idempotent") problem("duplicate with idempotency store", `idempotent: ${m.id} handled ${handled.length} times`)
        else if (!disturbed(m, handled[1]!)) problem("duplicate without disruption", `${g.name}: ${m.id} handled twice without any disruption`)
      }
    }
  }
  // per-key order in the ordered group: m2 (later) settled before m1 only if a disruption caught m1 in flight
  const og = groups.ordered
  const byKey = new Map<string, Array<Published>>()
  for (const m of confirmed) push(byKey, m.key, m)
  let orderChecks = 0
  for (const [key, list] of byKey) {
    list.sort((x, y) => x.seq - y.seq)
    for (let i = 0; i < list.length; i++) {
      const m1 = list[i]!
      const s1 = settledAt(og, m1.id)
      for (let j = i + 1; j < list.length; j++) {
        const m2 = list[j]!
        orderChecks++
        const s2 = settledAt(og, m2.id)
        if (s2 < s1 && !disturbed(m1, s2)) problem("per-key order", `ordered: key ${key}: seq ${m2.seq} settled before seq ${m1.seq} without a disruption`)
      }
    }
  }
  const byKind = new Map<string, number>()
  for (const p of problems) byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + 1)
  const summary = [...byKind].map(([k, n]) => `${k}: ${n}`).join(", ")
  ctx.note(`${orderChecks} order pairs checked; ${problems.length} problems${summary ? ` (${summary})` : ""}`)
  if (problems.length > 0) ctx.metrics.note = `${ctx.metrics.note ?? ""}; violations: ${summary}`
  expect(problems.slice(0, 10).map((p) => p.text), `model violations: ${summary}`).toEqual([])
  expect(ctx.metrics.lost).toBe(0)
}
