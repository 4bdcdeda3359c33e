import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FailureMetadata } from "@omnibus/core/adapter"
import { readPubAck } from "../src/publisher.ts"
import { planFilter } from "../src/topology.ts"
import { NatsTransport } from "../src/transport.ts"
import { Inbox, envelope, eventually, open, text, unique } from "./helpers.ts"

const prefix = unique("t").replace(/-/g, "")
const key = (...words: Array<string>): string => [prefix, ...words].join(".")

let t: NatsTransport
beforeAll(async () => {
  t = await open({ leaseMs: 1_000 })
})
afterAll(async () => {
  await t?.close()
})

const spec = (group: string, patterns: Array<string>, prefetch = 10, ephemeral = false) => ({ group, patterns, prefetch, ephemeral })

describe("planFilter", () => {
  it("maps patterns onto one NATS filter", () => {
    expect(planFilter("events", ["a.*.b"])).toEqual({ filter: "events.a.*.b", exact: true })
    expect(planFilter("events", ["#"])).toEqual({ filter: "events.>", exact: true })
    expect(planFilter("events", ["a.b.#"])).toEqual({ filter: "events.a.>", exact: false })
    expect(planFilter("events", ["a.#"])).toEqual({ filter: "events.>", exact: false })
    expect(planFilter("events", ["a.b.*", "a.b.c.d"])).toEqual({ filter: "events.a.b.>", exact: false })
    expect(planFilter("events", ["a.#.c"])).toEqual({ filter: "events.a.>", exact: false })
    expect(planFilter("events", ["#.c", "a.*"])).toEqual({ filter: "events.>", exact: false })
  })
})

describe("readPubAck", () => {
  const ack = (json: string) => ({ data: new TextEncoder().encode(json) })
  it("a sequence confirms, also as a duplicate; a duplicate without one (in flight on the leader) does not", () => {
    expect(() => readPubAck(ack('{"stream":"events","seq":7}'))).not.toThrow()
    expect(() => readPubAck(ack('{"stream":"events", "seq":7,"duplicate": true}'))).not.toThrow()
    // what nats-server 2.10 answers a re-send while the first try still waits for a quorum
    expect(() => readPubAck(ack('{"stream":"events", "seq":0,"duplicate": true}'))).toThrow(/not stored yet/)
    expect(() => readPubAck(ack('{"error":{"code":503,"description":"no quorum"}}'))).toThrow(/503/)
  })
})

describe("nats transport", () => {
  it("publish → consume → ack round trip keeps payload, headers and metadata", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g1"), [key("rt", "*")]), inbox.push)
    const e = envelope(key("rt", "one"), "hello", { headers: { a: "1", multi: "line1\r\nline2" }, key: "k1", correlationId: "c1" })
    const [outcome] = await t.publish([e])
    expect(outcome).toEqual({ ok: true })
    await inbox.count(1)
    const d = inbox.deliveries[0]!
    expect(d.attempt).toBe(1)
    expect(d.firstFailureAt).toBeUndefined()
    expect(d.envelope.id).toBe(e.id)
    expect(d.envelope.routingKey).toBe(e.routingKey)
    expect(d.envelope.key).toBe("k1")
    expect(d.envelope.correlationId).toBe("c1")
    expect(d.envelope.timestamp).toBe(e.timestamp)
    expect(d.envelope.headers).toEqual({ a: "1", multi: "line1\r\nline2" })
    expect(text(d.envelope)).toBe("hello")
    await d.ack()
    await c.stop()
    await c.close()
  })

  it("routes a.# to a, a.x.y but not b; several patterns on one consumer", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g2"), [key("r", "#"), key("s", "*", "z")]), inbox.push)
    const keys = [key("r"), key("r", "x", "y"), key("q"), key("s", "1", "z"), key("s", "1", "y")]
    await t.publish(keys.map((k) => envelope(k, k)))
    await inbox.count(3)
    const probe = envelope(key("r", "last"), "last")
    await t.publish([probe])
    await inbox.until(() => inbox.deliveries.some((d) => d.envelope.id === probe.id), 10_000, "probe")
    expect(inbox.deliveries.map((d) => d.envelope.routingKey).sort()).toEqual([key("r"), key("r", "last"), key("r", "x", "y"), key("s", "1", "z")].sort())
    for (const d of inbox.deliveries) await d.ack()
    await c.stop()
    await c.close()
  })

  it("never has more than prefetch unsettled deliveries", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g3"), [key("pf", "*")], 3), inbox.push)
    await t.publish(Array.from({ length: 12 }, (_, i) => envelope(key("pf", String(i)), String(i))))
    await inbox.count(3)
    // The next deliveries need settlements: ack one at a time and check the bound each time.
    for (let settled = 0; settled < 12; settled++) {
      expect(inbox.deliveries.length - settled).toBeLessThanOrEqual(3)
      await inbox.count(Math.min(12, settled + 3))
      await inbox.deliveries[settled]!.ack()
    }
    expect(inbox.deliveries.length).toBe(12)
    await c.stop()
    await c.close()
  })

  it("retry redelivers after the delay with attempt + 1 and firstFailureAt, without blocking others", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g4"), [key("rty", "*")], 5), inbox.push)
    const a = envelope(key("rty", "a"), "a")
    const b = envelope(key("rty", "b"), "b")
    await t.publish([a])
    await inbox.count(1)
    const first = inbox.deliveries[0]!
    const failedAt = Date.now() - 5
    const retriedAt = Date.now()
    await first.retry({ delayMs: 800, firstFailureAt: failedAt })
    await t.publish([b])
    await inbox.until(() => inbox.deliveries.some((d) => d.envelope.id === b.id), 5_000, "b")
    expect(inbox.deliveries.filter((d) => d.envelope.id === a.id).length).toBe(1)
    await inbox.until(() => inbox.deliveries.filter((d) => d.envelope.id === a.id).length === 2, 5_000, "a again")
    const again = inbox.deliveries.filter((d) => d.envelope.id === a.id)[1]!
    expect(inbox.times[inbox.deliveries.indexOf(again)]! - retriedAt).toBeGreaterThanOrEqual(750)
    expect(again.attempt).toBe(2)
    expect(again.firstFailureAt).toBe(failedAt)
    await again.retry({ delayMs: 10, firstFailureAt: failedAt })
    await inbox.until(() => inbox.deliveries.filter((d) => d.envelope.id === a.id).length === 3, 5_000, "a third time")
    const third = inbox.deliveries.filter((d) => d.envelope.id === a.id)[2]!
    expect(third.attempt).toBe(3)
    expect(third.firstFailureAt).toBe(failedAt)
    for (const d of [third, ...inbox.deliveries.filter((d) => d.envelope.id === b.id)]) await d.ack()
    await c.stop()
    await c.close()
  })

  it("keeps the lease alive while a delivery is unsettled", async () => {
    const inbox = new Inbox()
    const group = unique("g5")
    const c1 = await t.consume(spec(group, [key("lease")], 1), inbox.push)
    const other = await open({ leaseMs: 1_000 })
    const inbox2 = new Inbox()
    const c2 = await other.consume(spec(group, [key("lease")], 1), inbox2.push)
    await t.publish([envelope(key("lease"), "x")])
    await eventually(() => inbox.deliveries.length + inbox2.deliveries.length === 1, 10_000, "first delivery")
    // 3× the ack wait: a competing consumer would get it without the in-progress acks.
    await new Promise((r) => setTimeout(r, 3_000))
    expect(inbox.deliveries.length + inbox2.deliveries.length).toBe(1)
    await [...inbox.deliveries, ...inbox2.deliveries][0]!.ack()
    await c1.stop(); await c1.close(); await c2.stop(); await c2.close()
    await other.close()
  })

  it("declareGroup keeps messages for an offline group; ephemeral consumers leave nothing", async () => {
    const group = unique("g6")
    await t.declareGroup({ group, patterns: [key("off")], ephemeral: false })
    await t.publish([envelope(key("off"), "waiting")])
    const inbox = new Inbox()
    const c = await t.consume(spec(group, [key("off")]), inbox.push)
    await inbox.count(1)
    await inbox.deliveries[0]!.ack()
    await c.stop(); await c.close()

    const eg = unique("eph")
    const einbox = new Inbox()
    const e = await t.consume(spec(eg, [key("eph")], 10, true), einbox.push)
    expect(await t.countGroupConsumers(eg)).toBe(1)
    await t.publish([envelope(key("eph"), "x")])
    await einbox.count(1)
    await einbox.deliveries[0]!.ack()
    await e.stop(); await e.close()
    expect(await t.countGroupConsumers(eg)).toBe(0)
  })

  it("dead letters: list with metadata, replay to the group only, purge", async () => {
    const group = unique("g7")
    const bystander = unique("g7b")
    const inbox = new Inbox()
    const binbox = new Inbox()
    const c = await t.consume(spec(group, [key("dl", "*")]), inbox.push)
    const b = await t.consume(spec(bystander, [key("dl", "*")]), binbox.push)
    const msgs = Array.from({ length: 3 }, (_, i) => envelope(key("dl", String(i)), `p${i}`, { headers: { h: String(i) } }))
    await t.publish(msgs)
    await inbox.count(3)
    await binbox.count(3)
    for (const d of binbox.deliveries) await d.ack()
    const failure = (i: number): FailureMetadata => ({ error: `boom ${i}\nstack`, errorName: "Boom", errorCode: "E1", attempts: 3, firstFailureAt: 1000 + i, lastFailureAt: 2000 + i, group })
    for (const [i, d] of inbox.deliveries.entries()) await d.deadLetter(failure(i))
    const listed = await t.deadLetters.list(group)
    expect(listed.map((l) => l.envelope.id)).toEqual(msgs.map((m) => m.id))
    expect(listed[1]!.failure).toEqual(failure(1))
    expect(listed[1]!.envelope.headers).toEqual({ h: "1" })
    expect(listed[1]!.envelope.routingKey).toBe(msgs[1]!.routingKey)
    expect(text(listed[1]!.envelope)).toBe("p1")
    expect((await t.deadLetters.list(group, { limit: 2 })).length).toBe(2)

    expect(await t.deadLetters.replay(group, { ids: [msgs[0]!.id, msgs[1]!.id] })).toBe(2)
    await inbox.count(5)
    const replayed = inbox.deliveries.slice(3)
    expect(replayed.map((d) => d.envelope.id).sort()).toEqual([msgs[0]!.id, msgs[1]!.id].sort())
    expect(replayed.every((d) => d.attempt === 1)).toBe(true)
    expect(replayed.map((d) => d.envelope.routingKey).sort()).toEqual([msgs[0]!.routingKey, msgs[1]!.routingKey].sort())
    for (const d of replayed) await d.ack()
    expect((await t.deadLetters.list(group)).map((l) => l.envelope.id)).toEqual([msgs[2]!.id])
    expect(await t.deadLetters.purge(group)).toBe(1)
    expect(await t.deadLetters.list(group)).toEqual([])
    // The bystander group saw only the original three.
    const probe = envelope(key("dl", "probe"), "probe")
    await t.publish([probe])
    await binbox.count(4)
    expect(binbox.deliveries.length).toBe(4)
    await binbox.deliveries[3]!.ack()
    await inbox.count(6)
    await inbox.deliveries[5]!.ack()
    for (const x of [c, b]) { await x.stop(); await x.close() }
  })

  it("round-trips a payload larger than the server's max_payload", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g8"), [key("big")]), inbox.push)
    const payload = new Uint8Array(1024 * 1024 + 1000).map((_, i) => i % 251)
    const [o] = await t.publish([envelope(key("big"), payload)])
    expect(o).toEqual({ ok: true })
    await inbox.count(1)
    expect(Buffer.from(inbox.deliveries[0]!.envelope.payload).equals(Buffer.from(payload))).toBe(true)
    await inbox.deliveries[0]!.ack()
    await c.stop(); await c.close()
  })

  it("publish dedups by message id", async () => {
    const inbox = new Inbox()
    const c = await t.consume(spec(unique("g9"), [key("dup")]), inbox.push)
    const e = envelope(key("dup"), "once")
    await t.publish([e])
    await t.publish([e])
    const probe = envelope(key("dup"), "probe")
    await t.publish([probe])
    await inbox.until(() => inbox.deliveries.some((d) => d.envelope.id === probe.id), 10_000, "probe")
    expect(inbox.deliveries.filter((d) => d.envelope.id === e.id).length).toBe(1)
    for (const d of inbox.deliveries) await d.ack()
    await c.stop(); await c.close()
  })

  it("RPC: round trip, no responders fast, timeout", async () => {
    const method = key("rpc", "echo")
    const s = await t.serve({ method, group: "servers", concurrency: 4 }, (req) => {
      void req.reply(envelope(method, `echo:${text(req.envelope)}`, { correlationId: req.envelope.correlationId }))
    })
    const reply = await t.request(envelope(method, "hi", { correlationId: "c-1" }), { timeoutMs: 5_000, signal: new AbortController().signal })
    expect(text(reply)).toBe("echo:hi")
    expect(reply.correlationId).toBe("c-1")
    const started = Date.now()
    await expect(t.request(envelope(key("rpc", "nobody"), "x"), { timeoutMs: 5_000, signal: new AbortController().signal })).rejects.toMatchObject({ _tag: "NoResponders" })
    expect(Date.now() - started).toBeLessThan(1_000)
    const silent = await t.serve({ method: key("rpc", "silent"), group: "servers", concurrency: 1 }, () => {})
    // core's deadline aborts the signal (RequestTimeout is core's): the request stops waiting then
    await expect(t.request(envelope(key("rpc", "silent"), "x"), { timeoutMs: 300, signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: "TimeoutError" })
    await s.stop(); await s.close(); await silent.stop(); await silent.close()
  })

  it("rejects with BusClosed after close", async () => {
    const other = await open()
    await other.close()
    await expect(other.publish([envelope(key("closed"), "x")])).rejects.toMatchObject({ _tag: "BusClosed" })
  })
})
