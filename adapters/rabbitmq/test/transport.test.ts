/**
 * Transport-level tests against the real broker, without core's consumer
 * engine: what the adapter itself promises (confirms, attempts, retry
 * routing, dead letters, RPC, typed connection errors, ephemeral cleanup).
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import * as amqp from "amqplib"
import { afterEach, describe, expect, it } from "vitest"
import { AuthenticationFailed, BrokerError, BusClosed, ConnectionFailed, NoResponders, simulateCrash, Wire } from "@omnibus/core/adapter"
import type { Delivery, Envelope, IncomingRequest } from "@omnibus/core/adapter"
import { residue } from "../src/index.ts"
import { parseSettings } from "../src/options.ts"
import { Topology } from "../src/topology.ts"
import { RabbitTransport } from "../src/transport.ts"
import { cleanupGroups, envelope, k, open, spec, text, unique, until, URL_ } from "./helpers.ts"

const opened: Array<RabbitTransport> = []
const track = async (t: Promise<RabbitTransport>): Promise<RabbitTransport> => {
  const v = await t
  opened.push(v)
  return v
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close().catch(() => {})))
  await cleanupGroups()
})

for (const queueType of ["classic", "quorum"] as const) {
  describe(`rabbitmq transport (${queueType})`, () => {
    const connect = () => track(open({ queueType }))

    it("publishes with confirms and round-trips the envelope", async () => {
      const t = await connect()
      const group = unique("rt")
      const got: Array<Delivery> = []
      const c = await t.consume(spec(group, [k("order.*")]), (d) => { got.push(d); void d.ack() })
      const e = envelope(k("order.created"), "hello", { key: "k1", headers: { a: "1" }, correlationId: "c-1" })
      const outcomes = await t.publish([e, envelope(k("other.created"), "ignored")])
      expect(outcomes).toEqual([{ ok: true }, { ok: true }])
      await until(() => got.length === 1, "delivery")
      const d = got[0]!
      expect(d.attempt).toBe(1)
      expect(d.firstFailureAt).toBeUndefined()
      expect(d.envelope).toEqual({ ...e, replyTo: undefined })
      await c.stop()
      await c.close()
    })

    it("retries after the delay to this group only, with attempt + 1 and firstFailureAt", async () => {
      const t = await connect()
      const a = unique("ra")
      const b = unique("rb")
      const seenA: Array<{ d: Delivery; at: number }> = []
      const seenB: Array<Delivery> = []
      await t.consume(spec(a, [k("retry.#")]), (d) => {
        seenA.push({ d, at: Date.now() })
        if (d.attempt < 3) void d.retry({ delayMs: 300, firstFailureAt: d.firstFailureAt ?? 1234 })
        else void d.ack()
      })
      await t.consume(spec(b, [k("retry.#")]), (d) => { seenB.push(d); void d.ack() })
      const e = envelope(k("retry.one"), "x")
      await t.publish([e])
      await until(() => seenA.length === 3, "three attempts")
      expect(seenA.map((s) => s.d.attempt)).toEqual([1, 2, 3])
      expect(seenA[1]!.d.firstFailureAt).toBe(1234)
      expect(seenA[2]!.d.firstFailureAt).toBe(1234)
      expect(seenA[1]!.at - seenA[0]!.at).toBeGreaterThanOrEqual(300)
      for (const s of seenA) {
        expect(s.d.envelope.id).toBe(e.id)
        expect(s.d.envelope.routingKey).toBe(k("retry.one"))
        expect(Object.keys(s.d.envelope.headers).filter((h) => h.startsWith("x-") || h.startsWith("omnibus-"))).toEqual([])
      }
      // group b got its single copy; a's retries never reached it
      await until(() => seenB.length === 1, "group b copy")
      await t.publish([envelope(k("retry.two"), "marker")])
      await until(() => seenB.length === 2, "group b marker")
      expect(seenB.map(text)).toEqual(["x", "marker"])
    })

    it("a waiting retry does not block the group", async () => {
      const t = await connect()
      const group = unique("hol")
      const order: Array<string> = []
      await t.consume(spec(group, [k("hol.*")], { prefetch: 1 }), (d) => {
        order.push(`${text(d)}@${d.attempt}`)
        if (text(d) === "slow" && d.attempt === 1) void d.retry({ delayMs: 1_000, firstFailureAt: Date.now() })
        else void d.ack()
      })
      await t.publish([envelope(k("hol.a"), "slow"), envelope(k("hol.b"), "fast")])
      await until(() => order.length === 3, "3 deliveries")
      expect(order).toEqual(["slow@1", "fast@1", "slow@2"])
    })

    it("counts crash redeliveries apart from attempts (classic queues: a flag, 0 or 1)", async () => {
      const group = unique("crash")
      const t1 = await connect()
      const got1: Array<Delivery> = []
      await t1.consume(spec(group, [k("crash.*")]), (d) => got1.push(d))
      await t1.publish([envelope(k("crash.x"), "boom")])
      await until(() => got1.length === 1, "first delivery")
      expect(got1[0]!.redeliveries).toBe(0)
      await t1[simulateCrash]()
      const t2 = await connect()
      const got2: Array<Delivery> = []
      await t2.consume(spec(group, [k("crash.*")]), (d) => got2.push(d))
      await until(() => got2.length === 1, "redelivery")
      await t2[simulateCrash]()
      const t3 = await connect()
      const got3: Array<Delivery> = []
      await t3.consume(spec(group, [k("crash.*")]), (d) => { got3.push(d); void d.ack() })
      await until(() => got3.length === 1, "second redelivery")
      expect([got2[0]!.attempt, got2[0]!.redeliveries], "after one crash: attempt, redeliveries").toEqual([1, 1])
      // quorum queues count (x-delivery-count); classic queues only flag a redelivery
      expect([got3[0]!.attempt, got3[0]!.redeliveries], "after two crashes").toEqual([1, queueType === "quorum" ? 2 : 1])
      expect(got3[0]!.envelope.id).toBe(got1[0]!.envelope.id)
      expect(got3[0]!.envelope.routingKey).toBe(k("crash.x"))
    })

    it("dead-letters with metadata, lists, replays to the group only and purges", async () => {
      const t = await connect()
      const group = unique("dl")
      const other = unique("dlo")
      const got: Array<Delivery> = []
      let otherCount = 0
      let dead = 0
      await t.consume(spec(group, [k("dl.*")]), (d) => {
        got.push(d)
        if (got.length <= 3) {
          void d.deadLetter({ error: "nope", errorName: "TypeError", errorCode: "E1", attempts: 1, firstFailureAt: 10, lastFailureAt: 20, group }).then(() => dead++)
        } else void d.ack()
      })
      await t.consume(spec(other, [k("dl.*")]), (d) => { otherCount++; void d.ack() })
      const sent = [envelope(k("dl.a"), "1", { headers: { h: "v" } }), envelope(k("dl.b"), "2"), envelope(k("dl.c"), "3")]
      await t.publish(sent)
      await until(() => dead === 3 && otherCount === 3, "dead-lettered")
      const listed = await t.deadLetters.list(group)
      expect(listed.map((l) => l.envelope.id)).toEqual(sent.map((s) => s.id))
      expect(listed[0]!.envelope.headers).toEqual({ h: "v" })
      expect(listed[0]!.envelope.routingKey).toBe(k("dl.a"))
      expect(listed[0]!.failure).toEqual({ error: "nope", errorName: "TypeError", errorCode: "E1", attempts: 1, firstFailureAt: 10, lastFailureAt: 20, group })
      expect((await t.deadLetters.list(group, { limit: 2 })).length).toBe(2)
      // listing twice leaves them in place and in order
      expect((await t.deadLetters.list(group)).map((l) => l.envelope.id)).toEqual(sent.map((s) => s.id))

      const before = got.length
      expect(await t.deadLetters.replay(group, { ids: [sent[1]!.id] })).toBe(1)
      await until(() => got.length === before + 1, "replayed delivery")
      const replayed = got[got.length - 1]!
      expect(replayed.envelope.id).toBe(sent[1]!.id)
      expect(replayed.envelope.routingKey).toBe(k("dl.b"))
      expect(replayed.attempt).toBe(1)
      expect((await t.deadLetters.list(group)).map((l) => l.envelope.id)).toEqual([sent[0]!.id, sent[2]!.id])
      expect(await t.deadLetters.purge(group)).toBe(2)
      expect(await t.deadLetters.list(group)).toEqual([])
      expect(otherCount).toBe(3)
      expect(await t.deadLetters.list(unique("none"))).toEqual([])
      expect(await t.deadLetters.purge(unique("none"))).toBe(0)
    })

    it("declareGroup keeps messages for an offline group", async () => {
      const t = await connect()
      const group = unique("offline")
      await t.declareGroup({ group, patterns: [k("off.#")], ephemeral: false })
      await t.publish([envelope(k("off"), "zero-words-after"), envelope(k("off.a.b"), "two")])
      const got: Array<string> = []
      await t.consume(spec(group, [k("off.#")]), (d) => { got.push(text(d)); void d.ack() })
      await until(() => got.length === 2, "offline messages")
      expect(got).toEqual(["zero-words-after", "two"])
    })
  })
}

describe("rabbitmq transport (connection, RPC, cleanup)", () => {
  it("serves requests, reports no responders fast and times out", async () => {
    const t = await track(open())
    const method = unique("rpc.echo").replace(/-/g, "_")
    const servers: Array<{ close(): Promise<void> }> = []
    for (let i = 0; i < 2; i++) {
      servers.push(await t.serve({ method, group: method, concurrency: 4 }, (req: IncomingRequest) => {
        void req.reply({ ...req.envelope, id: `${req.envelope.id}-r`, payload: new TextEncoder().encode(`echo:${new TextDecoder().decode(req.envelope.payload)}`), headers: { by: String(i) } })
          .then(() => req.done())
      }))
    }
    const client = await track(open())
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client.request(envelope(method, `m${i}`, { correlationId: `corr-${i}` }), { timeoutMs: 5_000, signal: new AbortController().signal }),
      ),
    )
    replies.forEach((r: Envelope, i) => {
      expect(new TextDecoder().decode(r.payload)).toBe(`echo:m${i}`)
      expect(r.correlationId).toBe(`corr-${i}`)
    })
    expect(new Set(replies.map((r) => r.headers.by))).toEqual(new Set(["0", "1"]))

    const started = Date.now()
    await expect(client.request(envelope(k("nobody.home"), "x", { correlationId: "c-none" }), { timeoutMs: 5_000, signal: new AbortController().signal })).rejects.toBeInstanceOf(NoResponders)
    expect(Date.now() - started).toBeLessThan(1_000)

    // servers gone: the auto-delete queue goes with them
    for (const s of servers) await s.close()
    const gone = Date.now()
    await expect(client.request(envelope(method, "late", { correlationId: "c-gone" }), { timeoutMs: 5_000, signal: new AbortController().signal })).rejects.toBeInstanceOf(NoResponders)
    expect(Date.now() - gone).toBeLessThan(1_000)

    // a server that never answers: the request stops waiting when core's deadline aborts the signal
    await t.serve({ method: `${method}.silent`, group: `${method}.silent`, concurrency: 1 }, () => {})
    const t0 = Date.now()
    await expect(client.request(envelope(`${method}.silent`, "x", { correlationId: "c-slow" }), { timeoutMs: 300, signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: "TimeoutError" })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290)
    expect(Date.now() - t0).toBeLessThan(1_500)
  })

  it("a dead letter its queue refuses is held and tried again, not given back to come straight back", async () => {
    // What a dead-letter queue on a dead cluster node does (it is classic: one node), on one broker:
    // a policy makes the queue nack every publish until it is cleared.
    const group = unique("dlhold")
    const policy = `omnibus-test-${group}`
    const dlq = new Topology(parseSettings(URL_, {})).deadLetterQueue(group)
    const ctl = (...args: Array<string>) => promisify(execFile)("rabbitmqctl", args, { timeout: 60_000 })
    await ctl("set_policy", policy, `^${dlq.replaceAll(".", "\\.")}$`, JSON.stringify({ "max-length": 0, overflow: "reject-publish" }), "--apply-to", "queues", "--priority", "100")
    try {
      const t = await track(open())
      let deliveries = 0
      let settled: string | undefined
      await t.consume(spec(group, [k("dlhold.*")]), (d) => {
        deliveries++
        d.deadLetter({ error: "x", errorName: "Error", attempts: 1, firstFailureAt: 1, lastFailureAt: 1, group }).then(() => { settled = "dead-lettered" }, (e: unknown) => { settled = String(e) })
      })
      await t.publish([envelope(k("dlhold.a"), "1")])
      await until(() => deliveries === 1, "the delivery")
      // the adapter declares the dead-letter queue before its first (refused) publish there
      const raw = await amqp.connect(URL_)
      raw.on("error", () => {})
      try {
        const deadline = Date.now() + 10_000
        for (;;) {
          const ch = await raw.createChannel()
          ch.on("error", () => {})
          const declared = await ch.checkQueue(dlq).then(() => true, () => false)
          await ch.close().catch(() => {})
          if (declared) break
          if (Date.now() > deadline) throw new Error("timed out waiting for the dead-letter queue to be declared")
          await new Promise((r) => setTimeout(r, 20))
        }
      } finally {
        await raw.close().catch(() => {})
      }
      await ctl("clear_policy", policy)
      await until(() => settled !== undefined, "the dead letter to settle once the queue takes it", 20_000)
      expect(settled).toBe("dead-lettered")
      expect(deliveries, "deliveries of the message (a dead letter given back comes straight back)").toBe(1)
      expect((await t.deadLetters.list(group)).length).toBe(1)
    } finally {
      await ctl("clear_policy", policy).catch(() => undefined)
    }
  })

  it("ephemeral groups leave nothing behind", async () => {
    const t = await track(open())
    const group = unique("eph")
    const got: Array<Delivery> = []
    const c = await t.consume(spec(group, [k("eph.*")], { ephemeral: true }), (d) => {
      got.push(d)
      void d.deadLetter({ error: "x", errorName: "Error", attempts: 1, firstFailureAt: 1, lastFailureAt: 1, group })
    })
    await t.publish([envelope(k("eph.a"), "1")])
    await until(() => got.length === 1, "delivery")
    expect(await residue(URL_, group)).toBeGreaterThan(0)
    await c.stop()
    await c.close()
    expect(await residue(URL_, group)).toBe(0)
  })

  it("typed connection errors, no credentials in messages", async () => {
    const bad = "amqp://guest:s3cret-pw@127.0.0.1:5672"
    const e1 = await new RabbitTransport(bad, { connectTimeoutMs: 5_000 }).start().catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(AuthenticationFailed)
    expect(String((e1 as Error).message)).not.toContain("s3cret")

    const started = Date.now()
    const e2 = await new RabbitTransport("amqp://user:s3cret-pw@127.0.0.1:1", { connectTimeoutMs: 600 }).start().catch((e: unknown) => e)
    expect(e2).toBeInstanceOf(ConnectionFailed)
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(String((e2 as Error).message)).not.toContain("s3cret")

    // a queue declared with another type is a broker refusal, not a hang
    const group = unique("mismatch")
    const classic = await track(open())
    await classic.declareGroup({ group, patterns: [k("m.x")], ephemeral: false })
    const quorum = await track(open({ queueType: "quorum" }))
    await expect(quorum.consume(spec(group, [k("m.x")]), () => {})).rejects.toBeInstanceOf(BrokerError)
    // the transport survives the refusal
    expect((await quorum.publish([envelope(k("m.x"), "ok")]))[0]).toEqual({ ok: true })
  })

  it("rejects publishes with BusClosed after close and flushes in-flight ones", async () => {
    const t = await open()
    const pending = t.publish(Array.from({ length: 2_000 }, (_, i) => envelope(k("flush.test"), String(i))))
    await t.close()
    const outcomes = await pending
    expect(outcomes.every((o) => o.ok)).toBe(true)
    await expect(t.publish([envelope(k("a.b"), "x")])).rejects.toBeInstanceOf(BusClosed)
  })

  it("a retry waiting for its delay outlives the consumer that held it: the next one moves it when due", async () => {
    const group = unique("held")
    const first = await track(open())
    const retried: Array<number> = []
    await first.consume(spec(group, [k("held.*")]), (d) => {
      // the delay runs from when the retry is issued (the adapter stamps its due time then), not from its confirm
      const issuedAt = Date.now()
      void d.retry({ delayMs: 1_500, firstFailureAt: issuedAt }).then(() => retried.push(issuedAt))
    })
    await first.publish([envelope(k("held.one"), "x")])
    await until(() => retried.length === 1, "retry published")
    // A crash while the retry is held unacked by this process's delay consumer.
    await first[simulateCrash]()
    const second = await track(open())
    const got: Array<{ d: Delivery; at: number }> = []
    await second.consume(spec(group, [k("held.*")]), (d) => { got.push({ d, at: Date.now() }); void d.ack() })
    await until(() => got.length === 1, "the retry, moved by the second consumer")
    expect(got[0]!.d.attempt).toBe(2)
    expect(text(got[0]!.d)).toBe("x")
    expect(got[0]!.at - retried[0]!).toBeGreaterThanOrEqual(1_450)
  })

  it("keeps the attempt header layout of core", () => {
    expect(Wire.attempt).toBe("x-omnibus-attempt")
  })
})
