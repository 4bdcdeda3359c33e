/** Transport-level tests against a real broker, without core's consumer engine. */
import { randomUUID } from "node:crypto"
import { NoResponders, simulateCrash, type Crashable, type Envelope } from "@omnibus/core/adapter"
import type { Delivery, Transport } from "@omnibus/core/adapter"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaAdapter, kafkaResidue } from "../src/index.ts"
import { kafkaUrl } from "./broker.ts"

let url = ""
const open: Array<Transport> = []
const transport = async (leaseMs = 6_000) => {
  const t = await kafkaAdapter.create(url, { leaseMs, topicPrefix: "t" })
  open.push(t)
  return t
}
const env = (routingKey: string, body: string, extra: Partial<Envelope> = {}): Envelope => ({
  id: randomUUID(),
  routingKey,
  payload: new TextEncoder().encode(body),
  contentType: "text/plain",
  headers: { h: "v" },
  timestamp: Date.now(),
  ...extra,
})
const text = (d: Delivery) => new TextDecoder().decode(d.envelope.payload)

/** Collects deliveries; `next(n)` waits (with a deadline) until n arrived. */
const collector = () => {
  const got: Array<Delivery> = []
  let wake = () => {}
  return {
    got,
    on: (d: Delivery) => {
      got.push(d)
      wake()
    },
    next: (n: number, ms = 30_000) =>
      new Promise<Array<Delivery>>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${got.length}/${n} deliveries`)), ms)
        const check = () => {
          if (got.length >= n) {
            clearTimeout(t)
            resolve(got.slice(0, n))
          }
        }
        wake = check
        check()
      }),
  }
}

beforeAll(() => {
  url = kafkaUrl()
})
afterAll(async () => {
  await Promise.allSettled(open.map((t) => t.close()))
})

describe("kafka transport", () => {
  it("publish → consume (pattern filter) → ack; headers and key survive", async () => {
    const t = await transport()
    const group = `g-${randomUUID()}`
    const c = collector()
    const sub = await t.consume({ group, patterns: ["orders.#"], ephemeral: true, prefetch: 10 }, c.on)
    const a = env("orders", "zero-words", { key: "k1" })
    const b = env("other.thing", "filtered")
    const d = env("orders.created.eu", "deep")
    const res = await t.publish([a, b, d])
    expect(res.every((r) => r.ok)).toBe(true)
    const [x, y] = await c.next(2)
    expect(new Set([text(x!), text(y!)])).toEqual(new Set(["zero-words", "deep"]))
    const first = c.got.find((g) => g.envelope.id === a.id)!
    expect(first.envelope.key).toBe("k1")
    expect(first.envelope.headers).toEqual({ h: "v" })
    expect(first.attempt).toBe(1)
    await Promise.all(c.got.map((g) => g.ack()))
    await sub.stop()
    await sub.close()
    expect(await kafkaResidue(url, group, { topicPrefix: "t" })).toBe(0)
  })

  it("retry redelivers after the delay with attempt + 1 and first-failure, without blocking others", async () => {
    const t = await transport()
    const group = `g-${randomUUID()}`
    const c = collector()
    const sub = await t.consume({ group, patterns: ["r.*"], ephemeral: true, prefetch: 10 }, c.on)
    const m = env("r.one", "fails-once")
    await t.publish([m])
    const [first] = await c.next(1)
    const failedAt = Date.now()
    await first!.retry({ delayMs: 1_500, firstFailureAt: failedAt })
    await t.publish([env("r.two", "meanwhile")])
    const [, second] = await c.next(2)
    expect(text(second!)).toBe("meanwhile")
    await second!.ack()
    const [, , again] = await c.next(3)
    expect(again!.envelope.id).toBe(m.id)
    expect(again!.attempt).toBe(2)
    expect(again!.firstFailureAt).toBe(failedAt)
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(1_400)
    await again!.ack()
    await sub.stop()
    await sub.close()
  })

  it("deadLetter → list → replay to the group only (attempt reset) → purge", async () => {
    const t = await transport()
    const group = `g-${randomUUID()}`
    const c = collector()
    const sub = await t.consume({ group, patterns: ["dl.#"], ephemeral: false, prefetch: 10 }, c.on)
    const m = env("dl.x", "poison", { key: "pk" })
    await t.publish([m])
    const [d] = await c.next(1)
    await d!.deadLetter({ error: "boom", errorName: "Error", errorCode: "E1", attempts: 3, firstFailureAt: 1, lastFailureAt: 2, group })
    const listed = await t.deadLetters.list(group)
    expect(listed).toHaveLength(1)
    expect(listed[0]!.envelope.id).toBe(m.id)
    expect(listed[0]!.envelope.key).toBe("pk")
    expect(listed[0]!.envelope.headers).toEqual({ h: "v" })
    expect(listed[0]!.failure).toMatchObject({ error: "boom", errorCode: "E1", attempts: 3, group })
    expect(await t.deadLetters.replay(group)).toBe(1)
    const [, back] = await c.next(2)
    expect(back!.envelope.id).toBe(m.id)
    expect(back!.envelope.routingKey).toBe("dl.x")
    expect(back!.attempt).toBe(1)
    expect(await t.deadLetters.list(group)).toHaveLength(0)
    await back!.deadLetter({ error: "again", errorName: "Error", attempts: 1, firstFailureAt: 1, lastFailureAt: 2, group })
    expect(await t.deadLetters.purge(group)).toBe(1)
    expect(await t.deadLetters.list(group)).toHaveLength(0)
    await sub.stop()
    await sub.close()
  })

  it("a crashed member's unacked record goes to another member as a redelivery (same attempt)", async () => {
    const group = `g-${randomUUID()}`
    const t1 = await transport()
    const t2 = await transport()
    const c1 = collector()
    await t1.consume({ group, patterns: ["crash.#"], ephemeral: false, prefetch: 10 }, c1.on)
    const m = env("crash.a", "x")
    await t2.publish([m])
    await c1.next(1)
    await (t1 as typeof t1 & Crashable)[simulateCrash]()
    const c2 = collector()
    const sub2 = await t2.consume({ group, patterns: ["crash.#"], ephemeral: false, prefetch: 10 }, c2.on)
    const [d] = await c2.next(1)
    expect(d!.envelope.id).toBe(m.id)
    expect([d!.attempt, d!.redeliveries]).toEqual([1, 1])
    await d!.ack()
    await sub2.stop()
    await sub2.close()
  })

  it("a graceful hand-over counts no redelivery for records the old member never handed out", async () => {
    // The member announces hand-outs a prefetch window ahead (commit metadata); leaving the
    // group must take back what it announced but never handed, or every rebalance would count
    // as a redelivery for the next window of records.
    const group = `g-${randomUUID()}`
    const spec = { group, patterns: ["handover.#"], ephemeral: false, prefetch: 1 }
    const t1 = await transport()
    const t2 = await transport()
    const c1 = collector()
    let stopped: Promise<void> | undefined
    const sub1 = await t1.consume(spec, (d) => {
      c1.on(d)
      // the second record: stop handing out before settling it, so nothing after it goes out here
      if (c1.got.length < 2) void d.ack()
      else stopped ??= sub1.stop().then(() => d.ack())
    })
    const ms = Array.from({ length: 6 }, (_, i) => env("handover.a", `m${i}`, { key: "one" }))
    await t2.publish(ms)
    await c1.next(2)
    await stopped
    await sub1.close()
    expect(c1.got.map((d) => d.envelope.id)).toEqual(ms.slice(0, 2).map((m) => m.id))
    const c2 = collector()
    const sub2 = await t2.consume(spec, (d) => {
      c2.on(d)
      void d.ack()
    })
    const rest = ms.slice(2)
    const got = await c2.next(rest.length)
    expect(got.map((d) => d.envelope.id)).toEqual(rest.map((m) => m.id))
    expect(got.map((d) => [d.attempt, d.redeliveries])).toEqual(rest.map(() => [1, 0]))
    await sub2.stop()
    await sub2.close()
  })

  it("RPC: no responders fast; request/reply by correlation id", async () => {
    const t = await transport()
    const method = `m.${randomUUID().slice(0, 8)}`
    const started = Date.now()
    await expect(t.request(env(method, "q", { correlationId: "c0" }), { timeoutMs: 10_000, signal: new AbortController().signal })).rejects.toBeInstanceOf(NoResponders)
    expect(Date.now() - started).toBeLessThan(5_000)
    const server = await t.serve({ method, group: "servers", concurrency: 4 }, (req) => {
      void req.reply(env("reply", `re:${new TextDecoder().decode(req.envelope.payload)}`, { correlationId: req.envelope.correlationId })).then(() => req.done())
    })
    const reply = await t.request(env(method, "ping", { correlationId: "c1" }), { timeoutMs: 20_000, signal: new AbortController().signal })
    expect(new TextDecoder().decode(reply.payload)).toBe("re:ping")
    expect(reply.correlationId).toBe("c1")
    await server.stop()
    await server.close()
  })
})
