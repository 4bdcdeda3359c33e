/**
 * Section D: dead letters (cases 17–19).
 */
import { MemoryIdempotencyStore, PermanentError, json } from "@omnibus/core"
import type { Bus, Codec, DeadLetterRecord, Message } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase, sameBytes } from "../context.ts"
import type { Suite } from "../context.ts"
import { Collector, deferred, mapWindowed } from "../wait.ts"
import type { Deferred } from "../wait.ts"

const encoder = new TextEncoder()

const isSentinel = (m: Message<unknown>): boolean => (m.payload as { sentinel?: boolean } | null)?.sentinel === true

export const registerDeadLetters = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 35
  // Our own case: a message that kills its consumer every time must not loop forever, and
  // the crashes must not count as handler attempts (they also send back untouched deliveries).
  defineCase(suite, 35, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    const retry = { attempts: 3, maxRedeliveries: 2, backoff: { initial: 20, factor: 1, jitter: false } }
    const lease = { leaseMs: ctx.harness.leaseMs }
    const pub = await ctx.connect()
    // The group exists before the poison is published, so its first consumer gets it.
    const first = await ctx.connect(lease)
    const runs: Array<{ readonly attempt: number; readonly redeliveries: number }> = []
    let current: Deferred<void> = deferred()
    const poisoned = (m: Message<unknown>): Promise<void> => {
      runs.push({ attempt: m.attempt, redeliveries: m.redeliveries })
      current.resolve()
      return new Promise<void>(() => {}) // "crashes": never returns; the test then kills the bus
    }
    const subscribe = (bus: Bus, handler: (m: Message<unknown>) => Promise<void> | void) => bus.subscribe(pattern, handler, { group, retry })
    await subscribe(first, poisoned)
    const { id } = await pub.publish(ctx.key("poison"), { poison: true })
    let bus = first
    for (let crash = 1; crash <= 3; crash++) {
      await ctx.eventually(() => current.settled, () => `delivery ${crash} of the poison message (runs so far: ${JSON.stringify(runs)})`, ctx.eventuallyMs + ctx.harness.leaseMs)
      current = deferred()
      await ctx.crash(bus)
      bus = await ctx.connect(lease)
      if (crash < 3) await subscribe(bus, poisoned)
    }
    // Runs 2 and 3 were alone (it was redelivered): the fourth delivery has crashed its consumer
    // maxRedeliveries (2) times alone, so it is dead-lettered without running.
    const healthy = new Collector()
    const ranAgain: Array<number> = []
    await subscribe(bus, (m) => {
      if (m.id === id) ranAgain.push(m.redeliveries)
      else healthy.handler(m)
    })
    const { id: ok } = await pub.publish(ctx.key("ok"), { ok: true })
    await healthy.waitForIds([ok], ctx.eventuallyMs + ctx.harness.leaseMs, "a healthy message after the poison one")
    let records: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => {
      records = await pub.deadLetters.list(group)
      return records.some((r) => r.id === id)
    }, () => `the poison message in the dead letters (${records.length} listed)`, ctx.eventuallyMs + ctx.harness.leaseMs)
    const r = records.find((x) => x.id === id)!
    expect(r.failure.errorName).toBe("RedeliveriesExhausted")
    expect(r.failure.attempts, "crashes used no attempt").toBe(1)
    expect(ranAgain, "the handler never ran again after maxRedeliveries").toEqual([])
    expect(runs.map((x) => x.attempt), "attempt stays 1 through crashes").toEqual([1, 1, 1])
    // the broker's count: RabbitMQ classic queues only flag a redelivery (0 or 1)
    expect(runs.map((x) => x.redeliveries > 0), "redelivered after each crash").toEqual([false, true, true])
  })

  // ---------------------------------------------------------------- case 38
  // Only the culprit pays: every crash also sends back the messages in other handlers and in the
  // prefetch buffer; none of them may be dead-lettered or lose its retries (the fault suite's
  // G-poison-* do the same with real process exits).
  defineCase(suite, 38, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    const retry = { attempts: 3, maxRedeliveries: 2, backoff: { initial: 20, factor: 1, jitter: false } }
    const lease = { leaseMs: ctx.harness.leaseMs }
    const pub = await ctx.connect()
    const healthy = new Collector()
    let poisonRuns = 0
    let current: Deferred<void> = deferred()
    const handler = (m: Message<unknown>): Promise<void> | void => {
      if ((m.payload as { poison?: boolean }).poison !== true) return healthy.handler(m)
      poisonRuns++
      current.resolve()
      return new Promise<void>(() => {}) // "crashes": never returns; the test then kills the bus
    }
    const subscribe = (bus: Bus) => bus.subscribe(pattern, handler, { group, retry, concurrency: 8, prefetch: 32 })
    let bus = await ctx.connect(lease)
    await subscribe(bus)
    const ids: Array<string> = []
    await mapWindowed(200, 50, async (i) => {
      ids[i] = (await pub.publish(ctx.key("m", i), { i, poison: i === 100 })).id
    })
    const poisonId = ids[100]!
    for (let crash = 1; crash <= 3; crash++) {
      await ctx.eventually(() => current.settled, () => `run ${crash} of the poison message (${healthy.size} healthy handled)`, ctx.eventuallyMs + ctx.harness.leaseMs)
      current = deferred()
      await ctx.crash(bus)
      bus = await ctx.connect(lease)
      await subscribe(bus)
    }
    const healthyIds = ids.filter((id) => id !== poisonId)
    await healthy.waitForIds(healthyIds, ctx.eventuallyMs + 3 * ctx.harness.leaseMs, "every healthy message")
    let records: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => {
      records = await pub.deadLetters.list(group)
      return records.some((r) => r.id === poisonId)
    }, () => `the poison message in the dead letters (${records.length} listed)`, ctx.eventuallyMs + ctx.harness.leaseMs)
    expect(records.map((r) => [r.id === poisonId ? "poison" : r.routingKey, r.failure.errorName]), "only the poison is dead-lettered").toEqual([["poison", "RedeliveriesExhausted"]])
    expect(poisonRuns, "the poison ran once among others and maxRedeliveries times alone").toBe(3)
  })

  // ---------------------------------------------------------------- case 17
  defineCase(suite, 17, async (ctx) => {
    const bus = await ctx.connect()
    const group = ctx.group("failing")
    const okGroup = ctx.group("ok")
    const seen: Array<{ readonly at: number; readonly message: Message<unknown> }> = []
    await bus.subscribe(
      ctx.key("#"),
      (m) => {
        seen.push({ at: Date.now(), message: m })
        throw Object.assign(new Error("kaput: ünïcode ✓"), { name: "KaputError", code: "E_KAPUT" })
      },
      { group, retry: { attempts: 3, backoff: { initial: 20, factor: 1, jitter: false } } },
    )
    // Another group on the same key handles it fine: its dead letters stay empty.
    const ok = new Collector()
    await bus.subscribe(ctx.key("#"), ok.handler, { group: okGroup })
    const pub = await ctx.connect()
    const headers = { "x-tenant": "ünïcode ✓", "x-trace": "t-17" }
    const id = `${ctx.word("msg")}-1`
    const payload = { order: 17, note: "dead ✓" }
    await pub.publish(ctx.key("orders", "created"), payload, { id, key: "customer-7", headers, correlationId: "corr-17" })
    let records: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => {
      records = await bus.deadLetters.list(group)
      return records.some((r) => r.id === id)
    }, () => `dead letter ${id} in ${group} (${records.length} listed, ${seen.length} attempts seen)`)
    const r = records.find((x) => x.id === id)!
    expect(seen.map((s) => s.message.attempt), "attempts before dead-lettering").toEqual([1, 2, 3])
    const first = seen[0]!
    const last = seen[2]!
    expect(r.routingKey).toBe(ctx.key("orders", "created"))
    expect(r.key).toBe("customer-7")
    expect(r.headers, "original headers (failure metadata lives in .failure)").toEqual(headers)
    expect(r.contentType).toBe("application/json")
    expect(sameBytes(r.body, encoder.encode(JSON.stringify(payload))), "original payload bytes").toBe(true)
    expect(sameBytes(r.body, first.message.body), "same bytes as the handler saw").toBe(true)
    expect(r.timestamp, "original timestamp").toBe(first.message.timestamp)
    expect(r.failure.error).toBe("kaput: ünïcode ✓")
    expect(r.failure.errorName).toBe("KaputError")
    expect(r.failure.errorCode).toBe("E_KAPUT")
    expect(r.failure.attempts).toBe(3)
    expect(r.failure.group).toBe(group)
    // Failure times: taken by the consumer right after the handler threw (1 s slack for storage).
    expect(Math.abs(r.failure.firstFailureAt - first.at), "firstFailureAt near attempt 1").toBeLessThanOrEqual(1000)
    expect(Math.abs(r.failure.lastFailureAt - last.at), "lastFailureAt near attempt 3").toBeLessThanOrEqual(1000)
    expect(r.failure.lastFailureAt, "lastFailureAt after firstFailureAt").toBeGreaterThan(r.failure.firstFailureAt)
    await ok.waitForIds([id], ctx.eventuallyMs, "the healthy group")
    expect((await bus.deadLetters.list(okGroup)).length, "dead letters of the healthy group").toBe(0)
  })

  // ---------------------------------------------------------------- case 18
  defineCase(suite, 18, async (ctx) => {
    const bus = await ctx.connect()
    const group = ctx.group("plain")
    const validatingGroup = ctx.group("validating")
    const calls = new Map<string, number>()
    const handled = new Collector()
    const retry = { attempts: 5, backoff: { initial: 50, factor: 1, jitter: false } }
    await bus.subscribe(
      ctx.key("p", "#"),
      (m: Message<unknown>) => {
        calls.set(m.id, (calls.get(m.id) ?? 0) + 1)
        if ((m.payload as { kind?: string } | null)?.kind === "permanent") throw new PermanentError("cannot ever work", { code: "E_PERM" })
        handled.record(m)
      },
      { group, retry },
    )
    // A codec that validates: {n: number} only.
    const validating: Codec<{ n: number }> = {
      contentType: "application/json",
      encode: (v) => json.encode(v),
      decode: (b) => {
        const v = json.decode(b) as { n?: unknown } | null
        if (typeof v?.n !== "number") throw new Error("n must be a number")
        return { n: v.n }
      },
    }
    const validated = new Collector<{ n: number }>()
    await bus.subscribe<{ n: number }>(
      ctx.key("v", "#"),
      (m) => {
        calls.set(m.id, (calls.get(m.id) ?? 0) + 1)
        validated.record(m)
      },
      { group: validatingGroup, retry, codec: validating },
    )
    const pub = await ctx.connect()
    const { id: permanent } = await pub.publish(ctx.key("p", "perm"), { kind: "permanent" })
    // Declares JSON but sends bytes that are not JSON.
    const broken: Codec<unknown> = { contentType: "application/json", encode: () => encoder.encode("{not json"), decode: json.decode }
    const { id: undecodable } = await pub.publish(ctx.key("p", "broken"), { ignored: true }, { codec: broken })
    const { id: invalid } = await pub.publish(ctx.key("v", "bad"), { n: "not a number" })
    // Published after the bad ones: the consumers keep running.
    const { id: fine } = await pub.publish(ctx.key("p", "fine"), { kind: "fine" })
    const { id: valid } = await pub.publish(ctx.key("v", "good"), { n: 1 })
    await handled.waitForIds([fine], ctx.eventuallyMs, "plain consumer after the bad messages")
    await validated.waitForIds([valid], ctx.eventuallyMs, "validating consumer after the bad message")
    let plainDead: ReadonlyArray<DeadLetterRecord> = []
    let validatingDead: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => {
      plainDead = await bus.deadLetters.list(group)
      validatingDead = await bus.deadLetters.list(validatingGroup)
      return [permanent, undecodable].every((id) => plainDead.some((r) => r.id === id)) && validatingDead.some((r) => r.id === invalid)
    }, () => `dead letters: plain ${plainDead.map((r) => r.id).join(",") || "none"}, validating ${validatingDead.map((r) => r.id).join(",") || "none"}`)
    const perm = plainDead.find((r) => r.id === permanent)!
    expect(perm.failure.attempts, "PermanentError: attempts").toBe(1)
    expect(perm.failure.errorName).toBe("PermanentError")
    expect(perm.failure.errorCode).toBe("E_PERM")
    expect(perm.failure.error).toBe("cannot ever work")
    expect(calls.get(permanent), "handler calls for the PermanentError message").toBe(1)
    const dec = plainDead.find((r) => r.id === undecodable)!
    expect(dec.failure.attempts, "undecodable payload: attempts").toBe(1)
    expect(dec.failure.error.length, "undecodable payload: error message").toBeGreaterThan(0)
    expect(sameBytes(dec.body, encoder.encode("{not json")), "undecodable payload kept as sent").toBe(true)
    expect(calls.get(undecodable) ?? 0, "handler calls for the undecodable payload").toBe(0)
    const inv = validatingDead.find((r) => r.id === invalid)!
    expect(inv.failure.attempts, "invalid payload: attempts").toBe(1)
    expect(inv.failure.error, "invalid payload: validation message").toContain("n must be a number")
    expect(calls.get(invalid) ?? 0, "handler calls for the invalid payload").toBe(0)
  })

  // ---------------------------------------------------------------- case 19
  defineCase(suite, 19, async (ctx) => {
    const bus = await ctx.connect()
    const group = ctx.group("dl")
    const otherGroup = ctx.group("other")
    let failing = true
    const handled = new Collector()
    await bus.subscribe(
      ctx.key("#"),
      (m: Message<unknown>) => {
        if (failing && !isSentinel(m)) throw new Error("downstream unavailable")
        handled.record(m)
      },
      // With an idempotency store: a dead letter is not "done", so its replay (same id) is handled.
      { group, retry: false, concurrency: 8, idempotency: new MemoryIdempotencyStore() },
    )
    const other = new Collector()
    await bus.subscribe(ctx.key("#"), other.handler, { group: otherGroup, concurrency: 8 })
    const pub = await ctx.connect()
    const sent = await mapWindowed(100, 50, async (i) => {
      const key = ctx.key("dl", i % 5)
      const { id } = await pub.publish(key, { i })
      return { id, key, i }
    })
    const ids = sent.map((s) => s.id)
    let listed: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => {
      listed = await bus.deadLetters.list(group, { limit: 1000 })
      return ids.every((id) => listed.some((r) => r.id === id))
    }, () => `100 dead letters listed (${listed.length})`)
    expect(listed.length, "dead letters listed").toBe(100)
    for (const s of sent) {
      const r = listed.find((x) => x.id === s.id)!
      expect(r.routingKey, "inspect: routing key").toBe(s.key)
      expect(JSON.parse(new TextDecoder().decode(r.body)), "inspect: payload").toEqual({ i: s.i })
      expect(r.failure.attempts, "retry: false = one attempt").toBe(1)
      expect(r.failure.error).toBe("downstream unavailable")
    }
    expect(handled.size, "nothing handled while failing").toBe(0)

    failing = false
    const one = sent[0]!
    expect(await bus.deadLetters.replay(group, { ids: [one.id] }), "replay of one id").toBe(1)
    await handled.waitForIds([one.id], ctx.eventuallyMs, "replayed message")
    await ctx.eventually(async () => (await bus.deadLetters.list(group, { limit: 1000 })).length === 99, "99 dead letters left")
    expect(await bus.deadLetters.replay(group), "replay of the rest").toBe(99)
    await handled.waitForIds(ids, ctx.eventuallyMs, "all replayed messages")
    for (const s of sent) {
      const m = handled.first(s.id)!
      expect(m.routingKey, "replayed under the original routing key").toBe(s.key)
      expect(m.payload, "replayed payload").toEqual({ i: s.i })
      expect(m.attempt, "attempt count reset on replay").toBe(1)
    }
    await ctx.eventually(async () => (await bus.deadLetters.list(group, { limit: 1000 })).length === 0, "no dead letters after replay")
    // Replay goes to the group only: the other group's copy count stays 1 (sentinel after).
    const { id: sentinel } = await pub.publish(ctx.key("sentinel"), { sentinel: true })
    await Promise.all([
      other.waitForIds([...ids, sentinel], ctx.eventuallyMs, "other group"),
      handled.waitForIds([sentinel], ctx.eventuallyMs, "dead-letter group sentinel"),
    ])
    for (const id of ids) expect(other.count(id), "other group saw the replayed message again").toBe(1)
    expect(handled.duplicates(), "replayed messages handled more than once").toEqual([])

    // Purge drops what is there.
    failing = true
    const more = (await mapWindowed(5, 5, (i) => pub.publish(ctx.key("dl", "p"), { i }))).map((r) => r.id)
    await ctx.eventually(async () => {
      const l = await bus.deadLetters.list(group, { limit: 1000 })
      return more.every((id) => l.some((r) => r.id === id))
    }, "5 new dead letters")
    expect(await bus.deadLetters.purge(group), "purged").toBe(5)
    expect((await bus.deadLetters.list(group)).length, "dead letters after purge").toBe(0)
  })
}
