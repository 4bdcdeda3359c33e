import { AuthenticationFailed, BusClosed, ConnectionFailed, NoResponders } from "@omnibus/core"
import { simulateCrash, type Envelope } from "@omnibus/core/adapter"
import type { Consumption } from "@omnibus/core/adapter"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { Keys } from "../src/keys.ts"
import { residue } from "../src/topology.ts"
import type { RedisTransport } from "../src/transport.ts"
import { dropNamespace, envelope, eventually, Inbox, open, REDIS_URL, testNamespace, text, unique } from "./helpers.ts"

const ns = testNamespace()
const opened: Array<RedisTransport> = []
const connect = async (options?: { leaseMs?: number }) => {
  const t = await open(ns, { leaseMs: options?.leaseMs ?? 1_000 })
  opened.push(t)
  return t
}
const spec = (group: string, patterns: Array<string>, prefetch = 10, ephemeral = false) =>
  ({ group, patterns, prefetch, ephemeral })

afterAll(async () => {
  for (const t of opened) await t.close().catch(() => {})
  await dropNamespace(ns)
})

describe("redis transport", () => {
  it("round-trips a binary payload, headers and metadata; ack removes the entry", async () => {
    const t = await connect()
    const group = unique("rt")
    const inbox = new Inbox()
    const c = await t.consume(spec(group, ["orders.*"]), inbox.push)
    const payload = new Uint8Array([0, 1, 2, 255, 254, 0, 10, 13])
    const sent = envelope("orders.created", payload, { key: "k1", headers: { a: "1", payload: "user header named payload" }, correlationId: "c1" })
    const [outcome] = await t.publish([sent, envelope("other.created", "x")])
    expect(outcome).toEqual({ ok: true })
    await inbox.count(1)
    const d = inbox.deliveries[0]!
    expect(d.attempt).toBe(1)
    expect(d.firstFailureAt).toBeUndefined()
    expect(Array.from(d.envelope.payload)).toEqual(Array.from(payload))
    expect(d.envelope).toMatchObject({ id: sent.id, routingKey: "orders.created", key: "k1", correlationId: "c1", contentType: "text/plain", timestamp: sent.timestamp })
    expect(d.envelope.headers).toEqual({ a: "1", payload: "user header named payload" })
    await d.ack()
    const r = new Redis(REDIS_URL)
    expect(await r.xlen(new Keys({ prefix: "omnibus:", namespace: ns }).group(group))).toBe(0)
    r.disconnect()
    await c.stop()
    await c.close()
  })

  it("keeps at most prefetch deliveries unsettled", async () => {
    const t = await connect()
    const group = unique("pf")
    const inbox = new Inbox()
    const c = await t.consume(spec(group, ["pf.#"], 3), inbox.push)
    await t.publish(Array.from({ length: 10 }, (_, i) => envelope("pf.x", `m${i}`)))
    await inbox.count(3)
    // a sweep and a block period pass without more deliveries while 3 are unsettled
    await expect(inbox.count(4, 600)).rejects.toThrow()
    for (const d of inbox.deliveries.splice(0)) await d.ack()
    await inbox.count(3)
    let handled = 3
    while (handled < 10) {
      await inbox.count(1)
      for (const d of inbox.deliveries.splice(0)) { await d.ack(); handled++ }
    }
    expect(handled).toBe(10)
    await c.stop()
    await c.close()
  })

  it("retries after the delay with attempt + 1 and first-failure carried", async () => {
    const t = await connect()
    const group = unique("retry")
    const inbox = new Inbox()
    const c = await t.consume(spec(group, ["r.x"]), inbox.push)
    await t.publish([envelope("r.x", "slow"), envelope("r.x", "other")])
    await inbox.count(2)
    const first = inbox.deliveries.find((d) => text(d.envelope) === "slow")!
    const other = inbox.deliveries.find((d) => text(d.envelope) === "other")!
    const failedAt = Date.now()
    const t0 = Date.now()
    await first.retry({ delayMs: 400, firstFailureAt: failedAt })
    await other.ack()
    await inbox.count(3)
    const again = inbox.deliveries[2]!
    expect(inbox.times[2]! - t0).toBeGreaterThanOrEqual(390)
    expect(text(again.envelope)).toBe("slow")
    expect(again.envelope.id).toBe(first.envelope.id)
    expect(again.attempt).toBe(2)
    expect(again.firstFailureAt).toBe(failedAt)
    expect(again.envelope.headers).toEqual({})
    await again.retry({ delayMs: 0, firstFailureAt: failedAt })
    await inbox.count(4)
    expect(inbox.deliveries[3]!.attempt).toBe(3)
    await inbox.deliveries[3]!.ack()
    await c.stop()
    await c.close()
  })

  it("dead-letters with metadata, lists, replays to the group only with attempt reset, purges", async () => {
    const t = await connect()
    const group = unique("dl")
    const bystander = unique("dl-other")
    const inbox = new Inbox()
    const other = new Inbox()
    const c = await t.consume(spec(group, ["dl.#"]), inbox.push)
    const c2 = await t.consume(spec(bystander, ["dl.#"]), other.push)
    const sent = envelope("dl.bad", "poison", { headers: { h: "v" } })
    await t.publish([sent, envelope("dl.bad", "second")])
    await inbox.count(2)
    await other.count(2)
    for (const d of other.deliveries) await d.ack()
    const d = inbox.deliveries.find((x) => text(x.envelope) === "poison")!
    await d.deadLetter({ error: "boom", errorName: "TypeError", errorCode: "E1", attempts: 3, firstFailureAt: 100, lastFailureAt: 200, group })
    await inbox.deliveries.find((x) => text(x.envelope) === "second")!.deadLetter({ error: "x", errorName: "Error", attempts: 1, firstFailureAt: 1, lastFailureAt: 2, group })
    const list = await t.deadLetters.list(group)
    expect(list).toHaveLength(2)
    expect(list[0]!.envelope).toMatchObject({ id: sent.id, routingKey: "dl.bad", headers: { h: "v" } })
    expect(text(list[0]!.envelope)).toBe("poison")
    expect(list[0]!.failure).toEqual({ error: "boom", errorName: "TypeError", errorCode: "E1", attempts: 3, firstFailureAt: 100, lastFailureAt: 200, group })
    expect(await t.deadLetters.list(group, { limit: 1 })).toHaveLength(1)
    expect(await t.deadLetters.replay(group, { ids: [sent.id] })).toBe(1)
    await inbox.count(3)
    const replayed = inbox.deliveries[2]!
    expect(replayed.envelope.id).toBe(sent.id)
    expect(replayed.envelope.routingKey).toBe("dl.bad")
    expect(replayed.attempt).toBe(1)
    expect(replayed.envelope.headers).toEqual({ h: "v" })
    await replayed.ack()
    await expect(other.count(3, 500)).rejects.toThrow()
    expect(await t.deadLetters.purge(group)).toBe(1)
    expect(await t.deadLetters.list(group)).toHaveLength(0)
    for (const x of [c, c2]) { await x.stop(); await x.close() }
  })

  it("redelivers a crashed consumer's message to another as a redelivery of attempt 1", async () => {
    const crashing = await connect({ leaseMs: 500 })
    const survivor = await connect({ leaseMs: 500 })
    const group = unique("crash")
    const a = new Inbox()
    await crashing.consume(spec(group, ["c.x"]), a.push)
    await crashing.publish([envelope("c.x", "m")])
    await a.count(1)
    await crashing[simulateCrash]()
    const b = new Inbox()
    const c = await survivor.consume(spec(group, ["c.x"]), b.push)
    await b.count(1)
    expect([b.deliveries[0]!.attempt, b.deliveries[0]!.redeliveries]).toEqual([1, 1])
    expect(b.deliveries[0]!.envelope.id).toBe(a.deliveries[0]!.envelope.id)
    await b.deliveries[0]!.ack()
    await expect(a.deliveries[0]!.ack()).rejects.toBeInstanceOf(BusClosed)
    await c.stop()
    await c.close()
  })

  it("keeps the lease of a slow delivery alive (3x leaseMs) and releases on request", async () => {
    const slow = await connect({ leaseMs: 300 })
    const other = await connect({ leaseMs: 300 })
    const group = unique("lease")
    const a = new Inbox()
    const b = new Inbox()
    const ca = await slow.consume(spec(group, ["l.x"]), a.push)
    await slow.publish([envelope("l.x", "m")])
    await a.count(1)
    const cb = await other.consume(spec(group, ["l.x"]), b.push)
    await expect(b.count(1, 900)).rejects.toThrow()
    await ca.stop()
    await a.deliveries[0]!.release()
    await b.count(1)
    expect([b.deliveries[0]!.attempt, b.deliveries[0]!.redeliveries]).toEqual([1, 1])
    await b.deliveries[0]!.ack()
    for (const x of [ca, cb]) { await x.stop(); await x.close() }
  })

  it("declareGroup keeps messages for an offline group; ephemeral groups leave nothing", async () => {
    const t = await connect()
    const group = unique("offline")
    await t.declareGroup({ group, patterns: ["o.#"], ephemeral: false })
    await t.publish([envelope("o.a.b", "kept")])
    const inbox = new Inbox()
    const c = await t.consume(spec(group, ["o.#"]), inbox.push)
    await inbox.count(1)
    await inbox.deliveries[0]!.ack()
    await c.stop()
    await c.close()

    const eph = unique("eph")
    const e = new Inbox()
    const ce = await t.consume(spec(eph, ["e.#"], 10, true), e.push)
    await t.publish([envelope("e.x", "1")])
    await e.count(1)
    await e.deliveries[0]!.ack()
    const r = new Redis(REDIS_URL)
    const keys = new Keys({ prefix: "omnibus:", namespace: ns })
    expect(await residue(r, keys, eph)).toBeGreaterThan(0)
    await ce.stop()
    await ce.close()
    expect(await residue(r, keys, eph)).toBe(0)
    r.disconnect()
  })

  it("RPC: replies, shares requests between servers, NoResponders fast, timeout", async () => {
    const t = await connect()
    const servers = [await connect(), await connect(), await connect()]
    const method = unique("rpc.echo")
    await expect(t.request(envelope(method, "x", { correlationId: "c0" }), { timeoutMs: 5_000, signal: new AbortController().signal }))
      .rejects.toBeInstanceOf(NoResponders)
    const served = new Map<number, number>()
    const consumptions: Array<Consumption> = []
    for (const [i, s] of servers.entries()) {
      consumptions.push(await s.serve({ method, group: "g", concurrency: 4 }, (req) => {
        served.set(i, (served.get(i) ?? 0) + 1)
        const reply: Envelope = { ...envelope(method, `re:${text(req.envelope)}`), correlationId: req.envelope.correlationId }
        void req.reply(reply).then(() => req.done())
      }))
    }
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => {
      const e = envelope(method, `m${i}`)
      return t.request({ ...e, correlationId: e.id }, { timeoutMs: 5_000, signal: new AbortController().signal })
    }))
    expect(replies.map(text)).toEqual(Array.from({ length: 30 }, (_, i) => `re:m${i}`))
    expect(served.size).toBeGreaterThan(1)
    for (const c of consumptions) { await c.stop(); await c.close() }
    const started = Date.now()
    await expect(t.request(envelope(method, "x", { correlationId: "c1" }), { timeoutMs: 5_000, signal: new AbortController().signal }))
      .rejects.toBeInstanceOf(NoResponders)
    expect(Date.now() - started).toBeLessThan(1_000)

    const mute = unique("rpc.mute")
    const c = await servers[0]!.serve({ method: mute, group: "g", concurrency: 1 }, () => {})
    // core's deadline aborts the signal (RequestTimeout is core's): the request stops waiting then
    await expect(t.request(envelope(mute, "x", { correlationId: "c2" }), { timeoutMs: 300, signal: AbortSignal.timeout(300) }))
      .rejects.toMatchObject({ name: "TimeoutError" })
    await c.stop()
    await c.close()
  })

  it("typed connection errors without credentials in messages", async () => {
    const bad = open(ns, { connectTimeoutMs: 1_000 }).then(() => undefined)
    await bad
    const { RedisTransport } = await import("../src/transport.ts")
    const refused = await RedisTransport.create("redis://user:s3cret@127.0.0.1:1", { connectTimeoutMs: 500 }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(ConnectionFailed)
    expect(String((refused as Error).message)).not.toContain("s3cret")
    const denied = await RedisTransport.create("redis://nobody:s3cret@127.0.0.1:6379", { connectTimeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(denied).toBeInstanceOf(AuthenticationFailed)
    expect(String((denied as Error).message)).not.toContain("s3cret")
  })

  it("publish after close rejects with BusClosed; close settles in-flight publishes", async () => {
    const t = await open(ns)
    const group = unique("closing")
    await t.declareGroup({ group, patterns: ["z.#"], ephemeral: false })
    const inflight = t.publish(Array.from({ length: 200 }, (_, i) => envelope("z.x", `m${i}`)))
    await t.close()
    const outcomes = await inflight
    expect(outcomes.every((o) => o.ok)).toBe(true)
    await expect(t.publish([envelope("z.x", "late")])).rejects.toBeInstanceOf(BusClosed)
    const r = new Redis(REDIS_URL)
    expect(await r.xlen(new Keys({ prefix: "omnibus:", namespace: ns }).group(group))).toBe(200)
    r.disconnect()
  })

  it("publish-side dedup: the same id twice within the window lands once", async () => {
    const t = await connect()
    const group = unique("dedup")
    await t.declareGroup({ group, patterns: ["d.x"], ephemeral: false })
    const e = envelope("d.x", "once")
    expect(await t.publish([e, e])).toEqual([{ ok: true }, { ok: true }])
    await t.publish([e])
    const r = new Redis(REDIS_URL)
    await eventually(async () => (await r.xlen(new Keys({ prefix: "omnibus:", namespace: ns }).group(group))) === 1)
    r.disconnect()
  })
})
