/**
 * C-partition (docs/clusters.md): the node the publisher and one consumer are connected to is
 * cut off from the two others for 10 s (the launcher's `partition N`: both sides drop what they
 * send each other, clients still reach every node), then the cut is healed.
 *
 * Asserted: every publish is confirmed or fails with a typed error (never "confirmed then lost"),
 * nothing is handled twice (shared idempotency store), and after the heal the publisher's new
 * messages are confirmed and handled. Measured: whether, and how soon, a publish sent during the
 * partition was confirmed (the client reached the majority side); asserted only where the harness
 * says the adapter does it (`movesToMajority`).
 */
import { randomUUID } from "node:crypto"
import { setTimeout as sleep } from "node:timers/promises"
import type { Bus } from "@omnibus/core"
import { expect } from "vitest"
import { tagOf } from "../faults/context.ts"
import { errorText } from "../wait.ts"
import { Group } from "./cases.ts"
import { defineClusterFault } from "./context.ts"
import type { ClusterSuite } from "./context.ts"

const PARTITION_MS = 10_000
/** One publish every PACE_MS while fewer than MAX_IN_FLIGHT wait for their confirm. */
const PACE_MS = 15
const MAX_IN_FLIGHT = 50
/** Publishing goes on this long after the first post-heal message was handled. */
const AFTER_RESUME_MS = 1_000

interface Sent {
  readonly id: string
  readonly at: number
  settledAt?: number
  confirmed?: boolean
  error?: string
  typed?: boolean
}

const healthy = async (bus: Bus): Promise<boolean> => (await bus.health()).ready

export const registerPartition = (suite: ClusterSuite): void => {
  const h = suite.harness
  if (!h.nodes.every((n) => n.isolate !== undefined && n.heal !== undefined)) return
  const base = () => ({ leaseMs: h.leaseMs, connectTimeoutMs: 30_000 })

  defineClusterFault(suite, "C-partition", async (ctx) => {
    const group = new Group(ctx, "part")
    const admin = await ctx.connect(h.url(h.nodes), base())
    await admin.declareGroup(group.pattern, { group: group.name })
    await ctx.close(admin)
    // The node leading the group's queue/stream: the cut takes the leader away from the publisher.
    const leader = await h.groupLeader(group.name)
    const x = leader.node
    const elsewhere = h.nodes.find((n) => n !== x)!
    const onX = await ctx.connect(ctx.urlFirst(x), base())
    const offX = await ctx.connect(ctx.urlFirst(elsewhere), base())
    for (const c of [onX, offX]) await group.subscribe(c)
    const publisher = await ctx.connect(ctx.urlFirst(x), base())

    const sent: Array<Sent> = []
    let inFlight = 0
    let publishing = true
    const publishOne = async (): Promise<void> => {
      const s: Sent = { id: randomUUID(), at: performance.now() }
      sent.push(s)
      inFlight++
      try {
        await publisher.publish(ctx.key("part", "m", sent.length % 7), { i: sent.length }, { id: s.id })
        s.confirmed = true
      } catch (e) {
        s.error = errorText(e)
        s.typed = tagOf(e) !== undefined
      } finally {
        s.settledAt = performance.now()
        inFlight--
      }
    }
    const pending: Array<Promise<void>> = []
    // A steady trickle, paced (not a race being waited out): a stalled client holds at most MAX_IN_FLIGHT.
    const load = (async () => {
      while (publishing) {
        if (inFlight < MAX_IN_FLIGHT) pending.push(publishOne())
        await sleep(PACE_MS)
      }
    })()
    load.catch(() => undefined)

    const confirmedIds = () => sent.filter((s) => s.confirmed === true).map((s) => s.id)
    // flowing before the cut: the first 20 confirmed messages handled (not "every confirmed one so far":
    // with publishing going on, a broker whose confirm → delivery takes longer than PACE_MS always has some on the way)
    const firstConfirmed = () => confirmedIds().slice(0, 20)
    await ctx.eventually(() => firstConfirmed().length === 20 && group.tally.missing(firstConfirmed()).length === 0, () => `the first 20 messages confirmed and handled before the partition: ${confirmedIds().length} of ${sent.length} confirmed, ${group.tally.missing(firstConfirmed()).length} of the first 20 not handled`, 60_000)

    let isolatedAt = performance.now()
    let healedAt = 0
    let whole: Promise<void> | undefined
    let healed = false
    const heal = (): Promise<void> => {
      if (!healed) {
        healed = true
        healedAt = performance.now()
        whole = x.heal!()
      }
      return whole!
    }
    ctx.defer(async () => { await heal() })
    await x.isolate!()
    // from here on the cut is in place (a publish sent while the launcher set it up may have passed)
    isolatedAt = performance.now()
    // the partition's length (the fault itself, not a wait for a condition)
    await sleep(Math.max(0, PARTITION_MS - (performance.now() - isolatedAt)))
    const wholeAgain = heal()
    wholeAgain.catch(() => undefined)

    const afterHeal = () => sent.filter((s) => s.at >= healedAt && s.confirmed === true)
    let resumedAt = 0
    try {
      await ctx.eventually(() => afterHeal().some((s) => group.handledAt.has(s.id)), () => `a message published after the heal to be confirmed and handled (${afterHeal().length} confirmed)`, 30_000)
      resumedAt = performance.now()
      // a little more traffic on the healed cluster
      await sleep(AFTER_RESUME_MS)
    } finally {
      publishing = false
      await load
    }
    const started = performance.now()
    const unsettled = () => sent.filter((s) => s.settledAt === undefined).length
    await ctx.eventually(() => unsettled() === 0, () => `every publish to settle (confirmed or failed): ${unsettled()} of ${sent.length} waiting`, 60_000)
    const settledMs = Math.round(performance.now() - started)
    await Promise.all(pending)
    await wholeAgain
    const wholeMs = Math.round(performance.now() - healedAt)

    const confirmed = confirmedIds()
    const during = sent.filter((s) => s.at >= isolatedAt && s.at < healedAt)
    const confirmedDuring = during.filter((s) => s.confirmed === true && s.settledAt! < healedAt)
    const firstDuring = confirmedDuring.length === 0 ? undefined : Math.round(Math.min(...confirmedDuring.map((s) => s.settledAt!)) - isolatedAt)
    const firstAfterHeal = afterHeal().map((s) => s.settledAt!)
    const resumeConfirmedMs = firstAfterHeal.length === 0 ? undefined : Math.round(Math.min(...firstAfterHeal) - healedAt)
    const rejected = sent.filter((s) => s.error !== undefined)
    const lostTimes = () => sent.filter((s) => s.confirmed === true && !group.tally.handled.has(s.id)).map((s) => `${Math.round(s.at - isolatedAt)} → ${Math.round(s.settledAt! - isolatedAt)}`)
    const untyped = rejected.filter((s) => s.typed !== true)
    try {
      await ctx.eventually(() => group.tally.missing(confirmed).length === 0, () => `every confirmed message handled: ${group.tally.missing(confirmed).length} of ${confirmed.length} missing`, 60_000)
    } finally {
      ctx.metrics.sent = sent.length
      ctx.metrics.confirmed = confirmed.length
      ctx.metrics.rejected = rejected.length
      ctx.metrics.lost = group.tally.missing(confirmed).length
      ctx.metrics.handledTwice = group.tally.twice()
      ctx.metrics.redelivered = group.tally.duplicatesSeen
      ctx.metrics.recoveryMs = resumedAt === 0 ? undefined : Math.round(resumedAt - healedAt)
      ctx.metrics.note =
        `${h.replication}; cut ${x.name} (${leader.detail}) off from the other nodes for ${Math.round(healedAt - isolatedAt)} ms; publisher and one consumer connected to it, the other consumer to ${elsewhere.name}; ` +
        `one publish every ${PACE_MS} ms, at most ${MAX_IN_FLIGHT} in flight; ${during.length} sent during the partition, ` +
        (firstDuring === undefined
          ? "none confirmed before the heal (the client did not reach the majority side)"
          : `${confirmedDuring.length} confirmed before the heal, the first ${firstDuring} ms after the cut (the client reached the majority side)`) +
        `; after the heal a new publish confirmed after ${resumeConfirmedMs ?? "?"} ms and handled after ${ctx.metrics.recoveryMs ?? "?"} ms (recovery = heal to a new message handled); ` +
        `cluster whole again ${wholeMs} ms after the heal; publishes settled ${settledMs} ms after publishing stopped` +
        (rejected[0] ? `; ${rejected.length} rejected, e.g. ${rejected[0].error!.slice(0, 160)}` : "") +
        (ctx.metrics.lost > 0 ? `; lost (ms from the cut, sent → confirmed): ${lostTimes().slice(0, 20).join(", ")}` : "")
      ctx.note(JSON.stringify(ctx.metrics))
    }
    expect(untyped.map((s) => s.error), "publish failures without a typed error").toEqual([])
    expect(ctx.metrics.lost, "confirmed messages never handled").toBe(0)
    expect(ctx.metrics.handledTwice, "messages handled twice despite the idempotency store").toBe(0)
    if (h.movesToMajority === true) expect(firstDuring, "a publish sent during the partition confirmed before the heal (the client on the majority side)").toBeDefined()
    for (const b of [onX, offX, publisher]) await ctx.eventually(() => healthy(b), "every bus healthy after the heal", 30_000)
  }, { timeoutMs: 150_000 })
}
