/**
 * The cluster cases (docs/clusters.md). Every wait has a deadline; nodes are
 * killed with -9 through the harness and started again at the end of each case.
 */
import { randomUUID } from "node:crypto"
import type { Bus, Message } from "@omnibus/core"
import { expect } from "vitest"
import { account, publishMany, Tally } from "../faults/cases.ts"
import type { PublishTally } from "../faults/cases.ts"
import { tagOf } from "../faults/context.ts"
import { forkChild } from "../faults/fork-child.ts"
import { errorText, mapWindowed } from "../wait.ts"
import { defineClusterFault } from "./context.ts"
import type { ClusterContext, ClusterSuite } from "./context.ts"
import type { ClusterNode } from "./harness.ts"
import { registerPartition } from "./partition.ts"
import { registerClusterModel } from "./model.ts"

const healthy = async (bus: Bus): Promise<boolean> => (await bus.health()).ready

/**
 * The group's consumers and what they handled: the shared idempotency store absorbs
 * redeliveries (a duplicate is observed, not handled); `handledAt` says when each id
 * was first handled, so a probe published after a fault measures the time to resume.
 */
export class Group {
  readonly tally = new Tally()
  readonly handledAt = new Map<string, number>()
  readonly store
  readonly name: string
  readonly pattern: string

  constructor(ctx: ClusterContext, name: string) {
    this.store = ctx.store()
    this.name = ctx.group(name)
    this.pattern = ctx.key(name, "#")
  }

  /** Handled messages per consumer (the index of its subscribe call). */
  readonly perConsumer: Array<number> = []

  async subscribe(bus: Bus): Promise<void> {
    const consumer = this.perConsumer.push(0) - 1
    await bus.subscribe(this.pattern, (m: Message<unknown>) => {
      this.tally.handler(m)
      this.perConsumer[consumer]!++
      if (!this.handledAt.has(m.id)) this.handledAt.set(m.id, performance.now())
    }, { group: this.name, concurrency: 16, idempotency: this.store, observe: this.tally.observe, retry: { attempts: 20, backoff: { initial: 50, max: 500 } } })
  }

  /**
   * Publishes one message now through `bus`; resolves with the ms from `from` until the broker
   * confirmed it and until it was handled.
   */
  async probe(ctx: ClusterContext, bus: Bus, from: number): Promise<{ readonly confirmedMs: number; readonly handledMs: number }> {
    const id = randomUUID()
    await bus.publish(this.pattern.replace(/#$/, "probe"), { probe: true }, { id })
    const confirmedMs = Math.round(performance.now() - from)
    await ctx.eventually(() => this.handledAt.has(id), "a message published after the fault to be handled", 90_000)
    return { confirmedMs, handledMs: Math.round(this.handledAt.get(id)! - from) }
  }
}

const others = (ctx: ClusterContext, node: ClusterNode): Array<ClusterNode> => ctx.harness.nodes.filter((n) => n !== node)

export const registerClusterFaults = (suite: ClusterSuite): void => {
  const h = suite.harness
  const base = () => ({ leaseMs: h.leaseMs, connectTimeoutMs: 30_000 })

  // ------------------------------------------------------------ (1) leader killed mid-stream
  defineClusterFault(suite, "C-leader-kill", async (ctx) => {
    const N = 10_000
    const group = new Group(ctx, "main")
    // Declared first, so the lookup names its leader; then one consumer and the publisher
    // connect to that node (they must reconnect elsewhere) and one consumer to another node.
    const admin = await ctx.connect(h.url(h.nodes), base())
    await admin.declareGroup(group.pattern, { group: group.name })
    const leader = await h.groupLeader(group.name)
    const elsewhere = others(ctx, leader.node)[0]!
    const onLeader = await ctx.connect(ctx.urlFirst(leader.node), base())
    const offLeader = await ctx.connect(ctx.urlFirst(elsewhere), base())
    for (const c of [onLeader, offLeader]) await group.subscribe(c)
    const publisher = await ctx.connect(ctx.urlFirst(leader.node), base())
    let fault: Promise<void> | undefined
    let resume: Promise<{ readonly confirmedMs: number; readonly handledMs: number }> | undefined
    let killedAt = 0
    const injectFault = async (): Promise<void> => {
      killedAt = performance.now()
      await ctx.kill(leader.node)
      resume = group.probe(ctx, publisher, killedAt)
      resume.catch(() => undefined)
    }
    const started = performance.now()
    const pub = await publishMany(publisher, N, (i) => ctx.key("main", "m", i % 7), 200, (count) => {
      if (count >= N * 0.3 && fault === undefined) fault = injectFault()
    })
    await fault
    const publishedMs = Math.round(performance.now() - started)
    let resumeNote = ""
    const loss = h.measuredLoss
    try {
      const allHandled = () => group.tally.missing(pub.confirmed).length === 0
      if (loss === undefined) await ctx.eventually(allHandled, () => `every confirmed message handled: ${group.tally.missing(pub.confirmed).length} of ${pub.confirmed.size} missing`, 120_000)
      else await ctx.eventually(async () => allHandled() || (await loss.backlog(group.name)) === 0, () => `every confirmed message handled or the group drained: ${group.tally.missing(pub.confirmed).length} of ${pub.confirmed.size} missing`, 120_000)
      const r = await resume
      ctx.metrics.recoveryMs = r?.handledMs
      resumeNote = r ? `; a message published after the kill was confirmed after ${r.confirmedMs} ms and handled after ${r.handledMs} ms` : ""
    } finally {
      account(ctx, pub, N, group.tally)
      const firstRejection = [...pub.rejected.values()][0]
      ctx.metrics.note =
        `${h.replication}; killed ${leader.node.name} (${leader.detail}) after ${Math.round(N * 0.3)} confirms; publisher and one consumer connected to it, ` +
        `the other consumer to ${elsewhere.name}; recovery = kill to a message published after it handled${resumeNote}; ${N} published in ${publishedMs} ms` +
        (loss ? `; loss measured, not asserted: ${ctx.metrics.lost} confirmed messages never handled once the group was drained` : "") +
        (firstRejection ? `; rejections are typed, e.g. ${firstRejection.slice(0, 160)}` : "")
      ctx.note(JSON.stringify(ctx.metrics))
    }
    expect(pub.untyped, "publish failures without a typed error").toEqual([])
    if (loss === undefined) expect(ctx.metrics.lost, "confirmed messages never handled").toBe(0)
    expect(ctx.metrics.handledTwice, "messages handled twice despite the idempotency store").toBe(0)
    for (const b of [onLeader, offLeader, publisher]) await ctx.eventually(() => healthy(b), "every bus healthy on the surviving nodes", 30_000)
  }, { timeoutMs: 240_000 })

  // ------------------------------------------------------------ (4) RPC during a node kill
  defineClusterFault(suite, "C-rpc-kill", async (ctx) => {
    const REQUESTS = 3_000
    const IN_FLIGHT = 32
    const TIMEOUT_MS = 2_000
    const KILL_AFTER = 600
    const SETTLE_MARGIN_MS = 1_000
    const method = ctx.key("rpc")
    const serverGroup = ctx.group("servers")
    const options = base()
    // One server process per node (each lists its node first); the first one declares the queue.
    const servers = h.nodes.map((n) => ({ node: n, config: { adapterModule: h.adapterModule, url: ctx.urlFirst(n), options, method, group: serverGroup, concurrency: 16 } }))
    const children = []
    for (const s of servers) {
      const child = forkChild(ctx, "child-rpc-server", s.config)
      children.push(child)
      await ctx.eventually(() => {
        if (child.error !== undefined) throw new Error(`RPC server process failed: ${child.error}`)
        return child.ready
      }, `the RPC server on ${s.node.name} to serve`, 60_000)
    }
    const leader = await h.rpcLeader(method, serverGroup)
    const target = leader?.node ?? h.nodes[0]!
    const survivor = others(ctx, target)[0]!
    // One requester on the node that dies, one on a surviving node.
    const clients = [
      { name: `on ${target.name}`, bus: await ctx.connect(ctx.urlFirst(target), options), survives: false },
      { name: `on ${survivor.name}`, bus: await ctx.connect(ctx.urlFirst(survivor), options), survives: true },
    ]
    const pids = new Set<number>()
    for (const c of clients) {
      await ctx.eventually(async () => {
        const r = await c.bus.request<{ pid: number }>(method, { i: -1 }, { timeout: TIMEOUT_MS }).catch(() => undefined)
        if (r !== undefined) pids.add(r.pid)
        return r !== undefined
      }, `a warm-up reply to the requester ${c.name}`)
    }
    interface Outcome { client: number; sentAt: number; settledAt?: number; error?: string; tag?: string }
    const outcomes: Array<Outcome> = []
    let replies = 0
    let killedAt: number | undefined
    let kill: Promise<void> | undefined
    const started = performance.now()
    const storm = mapWindowed(REQUESTS, IN_FLIGHT * clients.length, async (i) => {
      const client = i % clients.length
      const o: Outcome = { client, sentAt: performance.now() }
      outcomes[i] = o
      try {
        const r = await clients[client]!.bus.request<{ i: number; pid: number }>(method, { i }, { timeout: TIMEOUT_MS })
        pids.add(r.pid)
        if (++replies >= KILL_AFTER && killedAt === undefined) {
          killedAt = performance.now()
          kill = ctx.kill(target)
        }
      } catch (e) {
        o.error = errorText(e)
        o.tag = tagOf(e)
      }
      o.settledAt = performance.now()
    })
    storm.catch(() => undefined)
    const settled = () => outcomes.filter((o) => o.settledAt !== undefined).length
    let lastFailure: Array<number | undefined> = []
    try {
      await ctx.eventually(() => settled() === REQUESTS, () => `all ${REQUESTS} requests to settle: ${settled()} settled`, 150_000)
      await kill
    } finally {
      const at = killedAt ?? 0
      const failed = outcomes.filter((o) => o.error !== undefined)
      lastFailure = clients.map((_, c) => {
        const after = failed.filter((o) => o.client === c && o.sentAt >= at)
        return after.length === 0 ? undefined : Math.round(Math.max(...after.map((o) => o.sentAt)) - at)
      })
      const tags = new Map<string, number>()
      for (const o of failed) tags.set(o.tag ?? "untyped", (tags.get(o.tag ?? "untyped") ?? 0) + 1)
      ctx.metrics.sent = REQUESTS
      ctx.metrics.rejected = failed.length
      const survivorLast = lastFailure[1]
      ctx.metrics.recoveryMs = survivorLast ?? 0
      ctx.metrics.note =
        `${h.replication}; killed ${target.name}${leader ? ` (${leader.detail})` : " (RPC goes through no queue: the node of the first server)"} after ${KILL_AFTER} replies; ` +
        `3 server processes, one per node; ${failed.length} of ${REQUESTS} requests failed (${[...tags].map(([t, n]) => `${n} ${t}`).join(", ") || "none"}); ` +
        clients.map((c, i) => `requester ${c.name}: last failure sent ${lastFailure[i] === undefined ? "never" : `${lastFailure[i]} ms`} after the kill`).join("; ") +
        `; storm ${Math.round(performance.now() - started)} ms, ${IN_FLIGHT} in flight per requester, timeout ${TIMEOUT_MS} ms; recovery = the surviving requester's last failure`
      ctx.note(ctx.metrics.note)
    }
    await storm
    expect(killedAt, "a node was killed mid-storm").toBeDefined()
    const slow = outcomes.filter((o) => o.settledAt! - o.sentAt > TIMEOUT_MS + SETTLE_MARGIN_MS)
    expect(slow.map((o) => `${Math.round(o.settledAt! - o.sentAt)} ms: ${o.error ?? "ok"}`), `requests settled later than ${TIMEOUT_MS + SETTLE_MARGIN_MS} ms`).toEqual([])
    const failed = outcomes.filter((o) => o.error !== undefined)
    expect(failed.filter((o) => o.tag === undefined).map((o) => o.error), "failures without a typed error").toEqual([])
    // after the storm, with the node still down: the servers answer the surviving requester
    // (a failure says when it was sent, counted from the kill, and which of the 100 it was)
    const sinceKill = () => Math.round(performance.now() - (killedAt ?? 0))
    const after = await mapWindowed(100, 16, (i) => {
      const sent = sinceKill()
      return clients[1]!.bus.request<{ pid: number }>(method, { i }, { timeout: TIMEOUT_MS }).then((r) => r.pid, (e: unknown) => `#${i}, sent ${sent} ms after the kill: ${errorText(e)}`)
    })
    expect(suite.down.has(target), "the killed node is still down").toBe(true)
    expect(after.filter((r) => typeof r === "string"), "requests of the surviving requester after the storm").toEqual([])
  }, { timeoutMs: 240_000 })

  // ------------------------------------------------------------ (2) rolling restart under load
  defineClusterFault(suite, "C-rolling-restart", async (ctx) => {
    const group = new Group(ctx, "roll")
    const [n1, n2, n3] = h.nodes as [ClusterNode, ClusterNode, ClusterNode]
    const admin = await ctx.connect(h.url(h.nodes), base())
    await admin.declareGroup(group.pattern, { group: group.name })
    await ctx.close(admin)
    // each node in turn holds a consumer or the publisher when it goes down
    const consumers = [await ctx.connect(ctx.urlFirst(n1), base()), await ctx.connect(ctx.urlFirst(n2), base())]
    for (const c of consumers) await group.subscribe(c)
    const publisher = await ctx.connect(ctx.urlFirst(n3), base())
    const rounds: Array<PublishTally> = []
    let rolling = true
    let round = 0
    // Rounds of 500 until the roll is over (at least 4): each waits until the consumers
    // caught up with the round before the last, so no backlog hides how long resuming takes.
    const load = (async () => {
      while (rolling || round < 4) {
        const r = round++
        const behind = rounds.at(-2)
        if (behind) await ctx.eventually(() => group.tally.missing(behind.confirmed).length === 0, `round ${r - 2} handled before round ${r} is published`, 120_000)
        rounds.push(await publishMany(publisher, 500, (i) => ctx.key("roll", "r", r, i % 5), 100))
      }
    })()
    load.catch(() => undefined)
    const steps: Array<string> = []
    let worst = 0
    const rollStarted = performance.now()
    try {
      for (const node of h.nodes) {
        const at = performance.now()
        ctx.note(`killing ${node.name}; ${group.tally.handled.size} handled so far`)
        await ctx.kill(node)
        const probe = group.probe(ctx, publisher, at)
        probe.catch(() => undefined)
        await ctx.restart(node)
        const downMs = Math.round(performance.now() - at)
        const r = await probe
        worst = Math.max(worst, r.handledMs)
        steps.push(`${node.name} down ${downMs} ms, a message published after its kill confirmed after ${r.confirmedMs} ms and handled after ${r.handledMs} ms`)
        ctx.note(steps.at(-1)!)
      }
    } finally {
      rolling = false
      ctx.metrics.note = `roll: ${steps.join("; ")}`
    }
    const rollMs = Math.round(performance.now() - rollStarted)
    await load
    const pub: PublishTally = {
      confirmed: new Set(rounds.flatMap((r) => [...r.confirmed])),
      rejected: new Map(rounds.flatMap((r) => [...r.rejected])),
      untyped: rounds.flatMap((r) => r.untyped),
    }
    const sent = rounds.length * 500
    let before: Array<number> = []
    const stuck = (): Array<number> => group.perConsumer.map((n, i) => (n > before[i]! ? -1 : i)).filter((i) => i >= 0)
    try {
      await ctx.eventually(() => group.tally.missing(pub.confirmed).length === 0, () => `every confirmed message handled after the roll: ${group.tally.missing(pub.confirmed).length} of ${pub.confirmed.size} missing`, 120_000)
      // no consumer stuck: each one handles messages published after the roll
      before = [...group.perConsumer]
      let extra = 0
      await ctx.eventually(async () => {
        if (stuck().length === 0) return true
        await publisher.publish(ctx.key("roll", "after", extra++ % 5), { after: true })
        return false
      }, () => `every consumer to handle messages published after the roll (consumers ${stuck().join(", ")} handled none of ${extra})`, 30_000)
    } finally {
      account(ctx, pub, sent, group.tally)
      ctx.metrics.recoveryMs = worst
      ctx.metrics.note = `${h.replication}; kill -9 and restart of each node in turn (consumers on the first two, the publisher on the third), waiting for it to serve and a new message to be handled before the next; ${steps.join("; ")}; roll ${rollMs} ms, ${sent} messages published meanwhile; recovery = worst kill to a new message handled`
      ctx.note(JSON.stringify(ctx.metrics))
    }
    expect(pub.untyped, "publish failures without a typed error").toEqual([])
    expect(ctx.metrics.lost, "confirmed messages never handled").toBe(0)
    expect(ctx.metrics.handledTwice, "messages handled twice despite the idempotency store").toBe(0)
  }, { timeoutMs: 300_000 })

  // ------------------------------------------------------------ (3) a partition of one node
  registerPartition(suite)
  // ------------------------------------------------------------ (5) the model check with node kills
  registerClusterModel(suite)
}
