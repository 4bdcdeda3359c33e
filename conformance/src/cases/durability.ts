/**
 * Section B: durability and at-least-once (cases 8–12, 30, 31).
 */
import type { Bus, Message, PublishReceipt, Subscription } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase, rejectionOf, safeJson } from "../context.ts"
import type { CaseContext, Suite, TaggedFailure } from "../context.ts"
import { Collector, ConcurrencyGauge, delay, mapWindowed } from "../wait.ts"

/** Tags a `publish` caller may see (PublishError). */
const PUBLISH_ERRORS = ["InvalidRoutingKey", "PayloadTooLarge", "PublishFailed", "BusClosed", "InvalidOptions"]

/** Creates the group's broker state and leaves it without a running consumer. */
const offlineGroup = async (ctx: CaseContext, pattern: string, group: string): Promise<void> => {
  const bus = await ctx.connect()
  const sub = await bus.subscribe(pattern, () => undefined, { group })
  await sub.close()
  await ctx.close(bus)
}

export const registerDurability = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 8
  defineCase(suite, 8, async (ctx) => {
    const group = ctx.group()
    await offlineGroup(ctx, ctx.key("#"), group)
    // A confirmed publish survives the publisher dying right after the confirm.
    const pub = await ctx.connect()
    const ids = (await mapWindowed(100, 100, (i) => pub.publish(ctx.key("m"), { i }))).map((r) => r.id)
    await ctx.crash(pub)
    const afterCrash = await rejectionOf(pub.publish(ctx.key("m"), { late: true }), ["BusClosed", "PublishFailed"], "publish on a crashed bus")
    expect(afterCrash._tag).toMatch(/BusClosed|PublishFailed/)
    const consumer = await ctx.connect()
    const c = new Collector()
    await consumer.subscribe(ctx.key("#"), c.handler, { group, concurrency: 8 })
    await c.waitForIds(ids, ctx.eventuallyMs, "consumer of the group (confirmed messages)")

    // A closed bus rejects every operation with BusClosed, never resolving silently.
    const closed = await ctx.connect()
    await ctx.close(closed)
    await rejectionOf(closed.publish(ctx.key("m"), { closed: true }), ["BusClosed"], "publish after close()")
    await rejectionOf(closed.subscribe(ctx.key("#"), () => undefined, { group }), ["BusClosed"], "subscribe after close()")
    await rejectionOf(closed.request(ctx.key("rpc"), {}, { timeout: 1000 }), ["BusClosed"], "request after close()")
    await rejectionOf(closed.handle(ctx.key("rpc"), () => 1), ["BusClosed"], "handle after close()")
    let batch: ReadonlyArray<{ readonly ok: boolean; readonly error?: { readonly _tag: string } }> | undefined
    try {
      batch = await closed.publishBatch([{ key: ctx.key("m"), payload: 1 }, { key: ctx.key("m"), payload: 2 }])
    } catch (e) {
      expect((e as { _tag?: unknown })._tag, "publishBatch after close() rejects with BusClosed").toBe("BusClosed")
    }
    if (batch !== undefined) {
      for (const r of batch) {
        expect(r.ok, "publishBatch after close(): no entry succeeds").toBe(false)
        expect(r.error?._tag, "publishBatch after close(): entry error").toBe("BusClosed")
      }
    }
  })

  // ---------------------------------------------------------------- case 9
  defineCase(suite, 9, async (ctx) => {
    // One group had a consumer that closed; the other was declared and never had one.
    const group = ctx.group()
    await offlineGroup(ctx, ctx.key("#"), group)
    const declared = ctx.group("declared")
    const pub = await ctx.connect()
    await pub.declareGroup(ctx.key("o", "*"), { group: declared })
    const ids = (await mapWindowed(1000, 200, (i) => pub.publish(ctx.key("o", i % 3), { i }))).map((r) => r.id)
    const consumer = await ctx.connect()
    const c = new Collector()
    const d = new Collector()
    await consumer.subscribe(ctx.key("#"), c.handler, { group, concurrency: 16 })
    await consumer.subscribe(ctx.key("o", "*"), d.handler, { group: declared, concurrency: 16 })
    await c.waitForIds(ids, ctx.eventuallyMs, "consumer started after the messages were published")
    await d.waitForIds(ids, ctx.eventuallyMs, "first consumer of a group declared before the messages were published")
  })

  // ---------------------------------------------------------------- case 10
  defineCase(suite, 10, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    // After a crash the broker redelivers once its lease runs out: use the short test lease.
    const lease = { leaseMs: ctx.harness.leaseMs }
    const busA = await ctx.connect(lease)
    // Handled by A before the crash: its handler returned while A was alive.
    const handledByA = new Set<string>()
    const startedByA = new Set<string>()
    let crashed = false
    await busA.subscribe(
      pattern,
      async (m) => {
        if (!crashed) startedByA.add(m.id)
        await delay(10) // slow consumer
        if (!crashed) handledByA.add(m.id)
      },
      { group, concurrency: 4 },
    )
    const pub = await ctx.connect()
    const ids = (await mapWindowed(500, 100, (i) => pub.publish(ctx.key("c"), { i }))).map((r) => r.id)
    await ctx.eventually(() => handledByA.size >= 250, () => `consumer A handled half (${handledByA.size}/500)`)
    crashed = true
    const inFlightAtCrash = [...startedByA].filter((id) => !handledByA.has(id))
    await ctx.crash(busA)
    const busB = await ctx.connect(lease)
    const b = new Collector()
    await busB.subscribe(pattern, b.handler, { group, concurrency: 8 })
    await ctx.eventually(
      () => ids.every((id) => handledByA.has(id) || b.has(id)),
      () => {
        const lost = ids.filter((id) => !handledByA.has(id) && !b.has(id))
        return `every message handled by A before the crash or by B (${lost.length} missing; A ${handledByA.size}, B ${b.size})`
      },
    )
    expect(b.size, "B received the rest").toBeGreaterThan(0)
    // A crash is not a handler failure: the attempt stays 1, and the message says it came back.
    const redelivered = inFlightAtCrash.filter((id) => b.has(id)).map((id) => b.first(id)!)
    expect(redelivered.filter((m) => m.redeliveries < 1).map((m) => m.id), `messages in A's handlers at the crash, redelivered to B without redeliveries >= 1 (of ${redelivered.length})`).toEqual([])
    expect(redelivered.filter((m) => m.attempt !== 1).map((m) => `${m.id}: attempt ${m.attempt}`), "a crash does not use up an attempt").toEqual([])
  })

  // ---------------------------------------------------------------- case 11
  defineCase(suite, 11, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    const handled = new Set<string>()
    // Two consumers of one group: concurrency 4 (prefetch defaults to it), and
    // concurrency 3 with a deeper prefetch of 12: buffered deliveries must wait.
    const configs = [
      { name: "concurrency 4", options: { concurrency: 4 }, limit: 4 },
      { name: "concurrency 3, prefetch 12", options: { concurrency: 3, prefetch: 12 }, limit: 3 },
    ]
    const consumers = await Promise.all(
      configs.map(async (cfg) => {
        const bus = await ctx.connect()
        const gauge = new ConcurrencyGauge()
        let count = 0
        await bus.subscribe(
          pattern,
          (m) =>
            gauge.around(async () => {
              await delay(2) // slow handler
              handled.add(m.id)
              count++
            }),
          { group, ...cfg.options },
        )
        return { ...cfg, gauge, count: () => count }
      }),
    )
    const pub = await ctx.connect()
    const ids = (await mapWindowed(2000, 200, (i) => pub.publish(ctx.key("bp"), { i }))).map((r) => r.id)
    await ctx.eventually(
      () => ids.every((id) => handled.has(id)),
      () => `2,000 messages handled (${handled.size})`,
      ctx.eventuallyMs * 2,
    )
    for (const c of consumers) {
      expect(c.gauge.max, `${c.name}: most handlers running at once`).toBeLessThanOrEqual(c.limit)
    }
    const first = consumers[0]!
    // Otherwise the measurement above proves nothing.
    expect(first.gauge.max, `${first.name}: handlers did overlap (handled ${first.count()})`).toBeGreaterThanOrEqual(2)
  })

  // ---------------------------------------------------------------- case 12
  defineCase(suite, 12, async (ctx) => {
    const round = async (mode: "subscription" | "bus"): Promise<void> => {
      const group = ctx.group(mode)
      const pattern = ctx.key(mode, "#")
      const busA = await ctx.connect()
      const started = new Set<string>()
      const completed = new Set<string>()
      let closed = false
      let startedAfterClose = 0
      const subA = await busA.subscribe(
        pattern,
        async (m) => {
          if (closed) startedAfterClose++
          started.add(m.id)
          await delay(30) // long enough that close() finds handlers running
          completed.add(m.id)
        },
        { group, concurrency: 4 },
      )
      const pub = await ctx.connect()
      const ids = (await mapWindowed(200, 100, (i) => pub.publish(ctx.key(mode, "m"), { i }))).map((r) => r.id)
      await ctx.eventually(() => completed.size >= 20, () => `${mode}: consumer A handled 20 (${completed.size})`)
      if (mode === "subscription") await subA.close()
      else await ctx.close(busA)
      closed = true
      const unfinished = [...started].filter((id) => !completed.has(id))
      expect(unfinished, `${mode} close(): handlers still running when it resolved`).toEqual([])
      const busB = await ctx.connect()
      const b = new Collector()
      await busB.subscribe(pattern, b.handler, { group })
      await ctx.eventually(
        () => ids.every((id) => completed.has(id) || b.has(id)),
        () => `${mode}: every message handled by A or by B (${ids.filter((id) => !completed.has(id) && !b.has(id)).length} missing)`,
      )
      // Redeliveries of A's messages would be queued before this sentinel.
      const { id: sentinel } = await pub.publish(ctx.key(mode, "sentinel"), { sentinel: true })
      await b.waitForIds([sentinel], ctx.eventuallyMs, `${mode}: sentinel`)
      const redelivered = [...b.ids()].filter((id) => completed.has(id))
      expect(redelivered, `${mode}: messages processed by A and delivered again to B`).toEqual([])
      expect(startedAfterClose, `${mode}: handlers started on A after close()`).toBe(0)
    }
    await Promise.all([round("subscription"), round("bus")])
  })

  // ---------------------------------------------------------------- case 30
  const leaseMs = suite.harness.leaseMs
  defineCase(
    suite,
    30,
    async (ctx) => {
      const group = ctx.group()
      const pattern = ctx.key("#")
      const starts = new Map<string, number>()
      const completed = new Set<string>()
      const sentinelSeen = new Set<string>()
      const handler = async (m: Message<unknown>): Promise<void> => {
        starts.set(m.id, (starts.get(m.id) ?? 0) + 1)
        if ((m.payload as { sentinel?: boolean } | null)?.sentinel === true) {
          sentinelSeen.add(m.id)
          return
        }
        await delay(3 * leaseMs) // runs 3x the broker's redelivery deadline
        completed.add(m.id)
      }
      const buses = await Promise.all([ctx.connect({ leaseMs }), ctx.connect({ leaseMs })])
      for (const bus of buses) await bus.subscribe(pattern, handler, { group, concurrency: 2 })
      const pub = await ctx.connect({ leaseMs })
      const ids = (await Promise.all([pub.publish(ctx.key("slow"), { n: 1 }), pub.publish(ctx.key("slow"), { n: 2 })])).map((r) => r.id)
      await ctx.eventually(
        () => ids.every((id) => completed.has(id)),
        () => `both slow handlers completed (${completed.size}/2)`,
        3 * leaseMs + ctx.eventuallyMs,
      )
      // A redelivery while the handler ran (after ~1 lease) would have started a second call by now.
      for (const id of ids) expect(starts.get(id), `calls of a handler running 3x the lease (${leaseMs} ms)`).toBe(1)
      const { id: sentinel } = await pub.publish(ctx.key("sentinel"), { sentinel: true })
      await ctx.eventually(() => sentinelSeen.has(sentinel), "sentinel")
      for (const id of ids) expect(starts.get(id), "calls after the ack").toBe(1)
    },
    { timeoutMs: 3 * leaseMs + 4 * suite.eventuallyMs + 20_000 },
  )

  // ---------------------------------------------------------------- case 31
  defineCase(
    suite,
    31,
    async (ctx) => {
      // Part 1: close() with 10,000 publishes in flight.
      const group = ctx.group("flush")
      const consumerBus = await ctx.connect()
      const c = new Collector()
      await consumerBus.subscribe(ctx.key("flush", "#"), c.handler, { group, concurrency: 32 })
      const pub = await ctx.connect()
      type Outcome = { readonly ok: true; readonly receipt: PublishReceipt } | { readonly ok: false; readonly error: unknown }
      const outcomes = new Array<Outcome | undefined>(10_000)
      const promises: Array<Promise<void>> = []
      for (let i = 0; i < 10_000; i++) {
        promises.push(
          pub.publish(ctx.key("flush", i % 10), { i }).then(
            (receipt) => {
              outcomes[i] = { ok: true, receipt }
            },
            (error: unknown) => {
              outcomes[i] = { ok: false, error }
            },
          ),
        )
      }
      await ctx.close(pub)
      // One macrotask turn lets the settle callbacks above run; no waiting beyond that.
      await new Promise<void>((resolve) => setImmediate(resolve))
      let pending = 0
      for (let i = 0; i < 10_000; i++) if (outcomes[i] === undefined) pending++
      expect(pending, "publishes still pending after close() resolved").toBe(0)
      await Promise.all(promises)
      const rejected = outcomes.filter((o): o is { ok: false; error: unknown } => o !== undefined && !o.ok)
      for (const r of rejected.slice(0, 20)) {
        const tag = (r.error as Partial<TaggedFailure> | null)?._tag
        expect(PUBLISH_ERRORS, `rejected publish has a typed error (${safeJson(tag)})`).toContain(tag)
      }
      const untyped = rejected.filter((r) => !PUBLISH_ERRORS.includes(String((r.error as Partial<TaggedFailure> | null)?._tag)))
      expect(untyped.length, "rejections without a typed error").toBe(0)
      const confirmed = outcomes.flatMap((o) => (o !== undefined && o.ok ? [o.receipt.id] : []))
      await c.waitForIds(confirmed, ctx.eventuallyMs * 3, `consumer (${confirmed.length} confirmed, ${rejected.length} rejected)`)

      // Part 2: closing 10 of 12 subscriptions at once while messages flow.
      const group2 = ctx.group("subs")
      const handled = new Set<string>()
      let violations = 0
      const subs: Array<{ readonly sub: Subscription; readonly state: { closed: boolean } }> = []
      const buses: Array<Bus> = await Promise.all(Array.from({ length: 4 }, () => ctx.connect()))
      // Subscribed in parallel: on brokers with group rebalances (Kafka) one join per subscription would add up.
      await Promise.all(Array.from({ length: 12 }, async (_, n) => {
        const state = { closed: false }
        const sub = await buses[n % 4]!.subscribe(
          ctx.key("subs", "#"),
          async (m) => {
            if (state.closed) violations++
            await delay(2)
            handled.add(m.id)
          },
          { group: group2, concurrency: 2 },
        )
        subs.push({ sub, state })
      }))
      const pub2 = await ctx.connect()
      const publishing = mapWindowed(2000, 20, (i) => pub2.publish(ctx.key("subs", "m"), { i }))
      await ctx.eventually(() => handled.size >= 300, () => `300 messages handled before closing (${handled.size})`)
      await Promise.all(
        subs.slice(1, 11).map(async (s) => {
          await s.sub.close()
          s.state.closed = true
        }),
      )
      const ids = (await publishing).map((r) => r.id)
      await ctx.eventually(
        () => ids.every((id) => handled.has(id)),
        () => `all 2,000 handled by the remaining consumers (${ids.filter((id) => !handled.has(id)).length} missing)`,
        ctx.eventuallyMs * 2,
      )
      expect(violations, "handler calls on closed subscriptions").toBe(0)
    },
    { timeoutMs: 8 * suite.eventuallyMs + 30_000 },
  )
}
