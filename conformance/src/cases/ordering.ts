/**
 * Section E: ordering and idempotency (cases 20–22, 32, 33).
 */
import { randomUUID } from "node:crypto"
import { MemoryIdempotencyStore, bytes, text } from "@omnibus/core"
import type { BatchEntry, Bus, Codec, Message } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase, safeJson, sameBytes } from "../context.ts"
import type { Suite } from "../context.ts"
import { Collector, ConcurrencyGauge, delay, mapWindowed } from "../wait.ts"

interface Seq {
  readonly k: string
  readonly seq: number
  readonly sentinel?: boolean
}

/** Publishes `perKey` messages for each key: sequential within a key (that is the publish order), keys in parallel. */
const publishPerKey = async (bus: Bus, routingKey: string, keys: ReadonlyArray<string>, perKey: number): Promise<void> => {
  await Promise.all(
    keys.map(async (k) => {
      for (let seq = 0; seq < perKey; seq++) await bus.publish(routingKey, { k, seq } satisfies Seq, { key: k })
    }),
  )
}

/** Deterministic shuffle (mulberry32), so a failing order can be reproduced. */
const shuffle = <T>(items: Array<T>, seed: number): Array<T> => {
  let a = seed >>> 0
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

export const registerOrdering = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 20
  defineCase(suite, 20, async (ctx) => {
    const bus = await ctx.connect()
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
    const calls = new Map<string, Array<{ seq: number; attempt: number }>>(keys.map((k) => [k, []]))
    const successes = new Map<string, Array<number>>(keys.map((k) => [k, []]))
    const inFlight = new Map<string, number>()
    const gauge = new ConcurrencyGauge()
    let overlapsWithinKey = 0
    let done = 0
    await bus.subscribe<Seq>(
      ctx.key("ord"),
      (m: Message<Seq>) =>
        gauge.around(async () => {
          const { k, seq } = m.payload
          const running = (inFlight.get(k) ?? 0) + 1
          inFlight.set(k, running)
          if (running > 1) overlapsWithinKey++
          try {
            calls.get(k)!.push({ seq, attempt: m.attempt })
            await delay(1)
            // Some messages fail once: their retry must happen in place.
            if (seq % 17 === 3 && m.attempt === 1) throw new Error("fails once")
            successes.get(k)!.push(seq)
            done++
          } finally {
            inFlight.set(k, (inFlight.get(k) ?? 1) - 1)
          }
        }),
      { group: ctx.group(), orderBy: "key", concurrency: 8, retry: { attempts: 5, backoff: { initial: 20, factor: 1, jitter: false } } },
    )
    const pub = await ctx.connect()
    await publishPerKey(pub, ctx.key("ord"), keys, 100)
    await ctx.eventually(() => done >= 2000, () => `2,000 messages handled in order (${done})`, ctx.eventuallyMs * 2)
    expect(overlapsWithinKey, "handlers of one key running at the same time").toBe(0)
    expect(gauge.max, "handlers running at once (concurrency 8)").toBeLessThanOrEqual(8)
    const expected = Array.from({ length: 100 }, (_, i) => i)
    for (const k of keys) {
      const seqs = calls.get(k)!.map((c) => c.seq)
      const backwards = seqs.findIndex((s, i) => i > 0 && s < seqs[i - 1]!)
      expect(backwards, `key ${k}: handler saw seq ${seqs[backwards]} after ${seqs[backwards - 1]}`).toBe(-1)
      expect(successes.get(k), `key ${k}: successful handling in publish order`).toEqual(expected)
      const retried = calls.get(k)!.filter((c) => c.attempt > 1).map((c) => c.seq)
      expect(retried, `key ${k}: retried messages`).toEqual(expected.filter((s) => s % 17 === 3))
    }
  })

  // ---------------------------------------------------------------- case 21
  defineCase(suite, 21, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    const store = new MemoryIdempotencyStore()
    const options = { group, concurrency: 8, idempotency: { store, lease: "2 seconds" } } as const
    const starts = new Map<string, number>()
    // Completed handlers. A handler of the crashed bus that finishes after the
    // crash is a zombie (a real crash would have killed it): it may or may not
    // mark the id done, so it counts as handling the id but not as a duplicate.
    const completions = new Map<string, number>()
    const zombies = new Set<string>()
    const completedByAPreCrash = new Set<string>()
    let aCrashed = false
    let total = 0
    const sentinels = new Set<string>()
    const handler = (onA: boolean) => async (m: Message<unknown>) => {
      if ((m.payload as { sentinel?: boolean } | null)?.sentinel === true) {
        sentinels.add(m.id)
        return
      }
      starts.set(m.id, (starts.get(m.id) ?? 0) + 1)
      await delay(2)
      if (onA && aCrashed) {
        zombies.add(m.id)
        return
      }
      if (onA) completedByAPreCrash.add(m.id)
      completions.set(m.id, (completions.get(m.id) ?? 0) + 1)
      total++
    }
    // After a crash the broker redelivers once its lease runs out: use the short test lease.
    const lease = { leaseMs: ctx.harness.leaseMs }
    const busA = await ctx.connect(lease)
    const busB = await ctx.connect(lease)
    await busA.subscribe(pattern, handler(true), options)
    await busB.subscribe(pattern, handler(false), options)
    const pub = await ctx.connect()
    const ids = Array.from({ length: 1000 }, () => randomUUID())
    // Each id twice, shuffled (seeded) so duplicates interleave, 100 publishes in flight.
    const seed = Math.floor(Math.random() * 2 ** 31)
    const order = shuffle([...ids, ...ids], seed)
    const publishing = mapWindowed(order.length, 100, (i) => pub.publish(ctx.key("m", i % 4), { id: order[i] }, { id: order[i]! }))
    await ctx.eventually(() => total >= 300, () => `300 handled before the crash (${total}; seed ${seed})`)
    aCrashed = true
    await ctx.crash(busA)
    const busC = await ctx.connect(lease)
    await busC.subscribe(pattern, handler(false), options)
    await publishing
    await ctx.eventually(
      () => ids.every((id) => completions.has(id) || zombies.has(id)),
      () => `all 1,000 ids handled (${ids.filter((id) => !completions.has(id) && !zombies.has(id)).length} missing; seed ${seed})`,
      ctx.eventuallyMs * 2,
    )
    // Redeliveries and duplicates still queued would come before the sentinel.
    const { id: sentinel } = await pub.publish(ctx.key("sentinel"), { sentinel: true })
    await ctx.eventually(() => sentinels.has(sentinel), "sentinel")
    const twice = ids.filter((id) => (completions.get(id) ?? 0) > 1)
    expect(twice, `ids handled more than once (seed ${seed}; e.g. ${safeJson(twice.slice(0, 3))})`).toEqual([])
    const rerun = [...completedByAPreCrash].filter((id) => (starts.get(id) ?? 0) > 1)
    expect(rerun, `ids handled by A before the crash and started again (seed ${seed})`).toEqual([])
  })

  // ---------------------------------------------------------------- case 22
  const dedup = suite.harness.publishDedup
  defineCase(
    suite,
    22,
    async (ctx) => {
      const bus = await ctx.connect()
      const c = new Collector()
      await bus.subscribe(ctx.key("#"), c.handler, { group: ctx.group(), concurrency: 8 })
      const pub = await ctx.connect()
      // 50 ids published twice one after the other, 50 ids twice at the same time.
      const sequential = Array.from({ length: 50 }, () => randomUUID())
      for (const id of sequential) {
        const first = await pub.publish(ctx.key("seq"), { id }, { id })
        const second = await pub.publish(ctx.key("seq"), { id }, { id })
        expect([first.id, second.id]).toEqual([id, id])
      }
      const concurrent = Array.from({ length: 50 }, () => randomUUID())
      await Promise.all(concurrent.flatMap((id) => [pub.publish(ctx.key("con"), { id }, { id }), pub.publish(ctx.key("con"), { id }, { id })]))
      const all = [...sequential, ...concurrent]
      await c.waitForIds(all, ctx.eventuallyMs, "consumer")
      // A duplicate that got through would be queued before this sentinel.
      const { id: sentinel } = await pub.publish(ctx.key("sentinel"), { sentinel: true })
      await c.waitForIds([sentinel], ctx.eventuallyMs, "sentinel")
      const dups = all.filter((id) => c.count(id) > 1)
      expect(dups, `ids delivered more than once without an idempotency store (${dups.length})`).toEqual([])
    },
    dedup === true ? {} : { notApplicable: dedup.reason },
  )

  // ---------------------------------------------------------------- case 32
  defineCase(suite, 32, async (ctx) => {
    const bus = await ctx.connect()
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
    const retryDelay = Math.max(2000, ctx.backoffToleranceMs * 5)
    const order: Array<{ k: string; seq: number; attempt: number }> = []
    let othersAtRetry: number | undefined
    let othersDone = 0
    let blockedDone = 0
    await bus.subscribe<Seq>(
      ctx.key("hol"),
      async (m: Message<Seq>) => {
        const { k, seq } = m.payload
        order.push({ k, seq, attempt: m.attempt })
        await delay(1)
        if (k === "k0" && seq === 0) {
          if (m.attempt === 1) throw new Error("waits for a long retry")
          othersAtRetry = othersDone
        }
        if (k === "k0") blockedDone++
        else othersDone++
      },
      { group: ctx.group(), orderBy: "key", concurrency: 8, retry: { attempts: 3, backoff: { initial: retryDelay, factor: 1, jitter: false } } },
    )
    const pub = await ctx.connect()
    // Interleaved rounds: every key's seq n is published before any key's seq n+1.
    for (let seq = 0; seq < 10; seq++) {
      await Promise.all(keys.map((k) => pub.publish(ctx.key("hol"), { k, seq } satisfies Seq, { key: k })))
    }
    await ctx.eventually(
      () => othersDone >= 190 && blockedDone >= 10,
      () => `all 200 handled (others ${othersDone}/190, k0 ${blockedDone}/10)`,
      retryDelay + ctx.eventuallyMs,
    )
    expect(othersAtRetry, `messages of the other 19 keys handled while k0 waited ${retryDelay} ms for its retry`).toBe(190)
    const k0 = order.filter((o) => o.k === "k0")
    expect(k0.map((o) => o.seq), "k0: in order, retried in place").toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(k0[1]!.attempt).toBe(2)
  })

  // ---------------------------------------------------------------- case 33
  defineCase(suite, 33, async (ctx) => {
    const bus = await ctx.connect()
    const c = new Collector()
    await bus.subscribe(ctx.key("b", "#"), c.handler, { group: ctx.group(), concurrency: 4 })
    const pub = await ctx.connect()
    const givenId = `${ctx.word("id")}-2`
    const headers = { "x-h": "ü ✓" }
    // 17 MiB: over every adapter's limit (each accepts >= 1 MiB, none more than 16 MiB).
    const big = new Uint8Array(17 * 1024 * 1024)
    const entries: ReadonlyArray<BatchEntry> = [
      { key: ctx.key("b", "one"), payload: { n: 1 } },
      { key: `${ctx.key("b")}..bad`, payload: { n: 2 } },
      { key: ctx.key("b", "two"), payload: "two ✓", codec: text as Codec<unknown>, options: { id: givenId, headers, key: "part-2", correlationId: "c-2" } },
      { key: ctx.key("b", "*"), payload: { n: 3 } },
      { key: ctx.key("b", "big"), payload: big, codec: bytes as Codec<unknown> },
      { key: ctx.key("b", "three"), payload: Uint8Array.of(1, 2, 3), codec: bytes as Codec<unknown> },
    ]
    const results = await pub.publishBatch(entries)
    expect(results.length, "one result per entry").toBe(entries.length)
    expect(results.map((r) => r.ok), "which entries succeeded").toEqual([true, false, true, false, false, true])
    const tags = results.map((r) => (r.ok ? "ok" : r.error._tag))
    expect(tags).toEqual(["ok", "InvalidRoutingKey", "ok", "InvalidRoutingKey", "PayloadTooLarge", "ok"])
    const okIds = results.flatMap((r) => (r.ok ? [r.id] : []))
    expect(okIds[1], "the id given to entry 2").toBe(givenId)
    // The same entry published singly, for comparison.
    const single = await pub.publish(ctx.key("b", "two"), "two ✓", { codec: text as Codec<unknown>, headers, key: "part-2", correlationId: "c-2" })
    const { id: sentinel } = await pub.publish(ctx.key("b", "sentinel"), { sentinel: true })
    await c.waitForIds([...okIds, single.id, sentinel], ctx.eventuallyMs, "consumer")
    expect(c.total, "delivered: 3 batch entries, the single publish and the sentinel").toBe(5)
    const [one, two, three] = okIds.map((id) => c.first(id)!)
    expect(one!.routingKey).toBe(ctx.key("b", "one"))
    expect(one!.payload).toEqual({ n: 1 })
    expect(one!.contentType).toBe("application/json")
    const twoSingle = c.first(single.id)!
    for (const [label, m] of [["batch", two!], ["single", twoSingle]] as const) {
      expect(m.routingKey, `${label}: routing key`).toBe(ctx.key("b", "two"))
      expect(m.payload, `${label}: payload`).toBe("two ✓")
      expect(m.contentType, `${label}: content type`).toBe(text.contentType)
      expect(m.headers, `${label}: headers`).toEqual(headers)
      expect(m.key, `${label}: key`).toBe("part-2")
      expect(m.correlationId, `${label}: correlation id`).toBe("c-2")
    }
    expect(three!.contentType).toBe(bytes.contentType)
    expect(sameBytes(three!.body, Uint8Array.of(1, 2, 3))).toBe(true)
  })
}
