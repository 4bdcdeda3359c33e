/**
 * Interop with plain amqplib clients (no Omnibus): a foreign publisher on the
 * `events` exchange reaches an Omnibus subscription, and an Omnibus RPC
 * server answers a plain client using reply_to + correlation_id.
 */
import * as amqp from "amqplib"
import { afterEach, expect, it } from "vitest"
import { connect } from "@omnibus/core"
import type { Bus, Message } from "@omnibus/core"
import "../src/index.ts"
import { cleanupGroups, unique, until, URL_ } from "./helpers.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {})
  await cleanupGroups()
})

const bus = async (): Promise<Bus> => {
  const b = await connect(URL_)
  cleanup.push(() => b.close())
  return b
}

const plain = async (): Promise<amqp.ChannelModel> => {
  const model = await amqp.connect(URL_)
  cleanup.push(() => model.close())
  return model
}

it("a plain amqplib publisher on `events` reaches an Omnibus subscription on employee.*", async () => {
  const b = await bus()
  const got: Array<Message<unknown>> = []
  await b.subscribe("employee.*", (m) => { got.push(m) }, { group: unique("interop") })
  const ch = await (await plain()).createConfirmChannel()
  await ch.assertExchange("events", "topic", { durable: true })
  ch.publish("events", "employee.created", Buffer.from(JSON.stringify({ name: "Ada" })), {
    contentType: "application/json",
    messageId: "emp-1",
    headers: { tenant: "acme", "x-count": 3 },
    persistent: true,
  })
  ch.publish("events", "employee.created.extra", Buffer.from("{}"), { contentType: "application/json" }) // not matched by employee.*
  await ch.waitForConfirms()
  await until(() => got.length === 1, "the foreign message")
  const m = got[0]!
  expect(m.routingKey).toBe("employee.created")
  expect(m.id).toBe("emp-1")
  expect(m.payload).toEqual({ name: "Ada" })
  expect(m.contentType).toBe("application/json")
  expect(m.headers).toEqual({ tenant: "acme", "x-count": "3" })
  expect(m.attempt).toBe(1)
})

it("an Omnibus RPC server answers a plain amqplib client using reply_to and correlation_id", async () => {
  const b = await bus()
  const method = unique("interop.add").replace(/-/g, "_")
  await b.handle<{ a: number; b: number }>(method, (req) => ({ sum: req.payload.a + req.payload.b }))
  const ch = await (await plain()).createChannel()
  const replies = new Map<string, amqp.ConsumeMessage>()
  await ch.consume("amq.rabbitmq.reply-to", (msg) => { if (msg) replies.set(String(msg.properties.correlationId), msg) }, { noAck: true })
  // Requests go to the `omnibus.rpc` direct exchange under the method name.
  ch.publish("omnibus.rpc", method, Buffer.from(JSON.stringify({ a: 2, b: 40 })), {
    contentType: "application/json",
    correlationId: "plain-1",
    replyTo: "amq.rabbitmq.reply-to",
  })
  await until(() => replies.has("plain-1"), "the reply")
  const reply = replies.get("plain-1")!
  expect(JSON.parse(reply.content.toString("utf8"))).toEqual({ sum: 42 })
  expect(reply.properties.correlationId).toBe("plain-1")
  expect(reply.properties.contentType).toBe("application/json")
})

it("a retry dead-lettered out of the TTL delay queues of versions before 2026-12-04 arrives without their bookkeeping", async () => {
  const b = await bus()
  const group = unique("legacy")
  const got: Array<Message<unknown>> = []
  await b.subscribe("legacy.*", (m) => { got.push(m) }, { group })
  // What the old `<p>retry/<ms>` queue handed to the group queue when its TTL expired.
  const ch = await (await plain()).createConfirmChannel()
  ch.sendToQueue(`omnibus.${group}`, Buffer.from(JSON.stringify({ n: 1 })), {
    contentType: "application/json",
    messageId: "legacy-1",
    persistent: true,
    headers: {
      "x-omnibus-attempt": "2",
      "x-omnibus-routing-key": "legacy.retried",
      "omnibus-retry-to": `omnibus.${group}`,
      "x-first-death-reason": "expired",
      "x-death": [{ reason: "expired", queue: "omnibus.retry/200", count: 1 }],
      tenant: "acme",
    },
  })
  await ch.waitForConfirms()
  await until(() => got.length === 1, "the legacy retry")
  expect(got[0]!.id).toBe("legacy-1")
  expect(got[0]!.attempt).toBe(2)
  expect(got[0]!.routingKey).toBe("legacy.retried")
  expect(got[0]!.headers).toEqual({ tenant: "acme" })
})
