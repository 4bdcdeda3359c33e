/**
 * CloudEvents on Redis (the HTTP binding's binary mode, as stream fields): with
 * `cloudEvents` on, a plain ioredis reader hands an entry Omnibus published to
 * the CloudEvents SDK's HTTP decoder and gets the event back; an event the SDK
 * encoded, XADDed by a plain client, reaches an Omnibus handler with its id,
 * type, time, subject and content type. The checks are shared by every adapter
 * (conformance/src/cloudevents.ts).
 */
import { randomUUID } from "node:crypto"
import { connect, json, type Message } from "@omnibus/core"
import { expectDeliveredEvent, expectPublishedEvent, foreignEvent, PUBLISHED } from "@omnibus/conformance"
import { CloudEvent, HTTP } from "cloudevents"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import "../src/index.ts"
import { Keys } from "../src/keys.ts"
import { dropNamespace, eventually, REDIS_URL, testNamespace, unique } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

const ns = testNamespace()
afterAll(() => dropNamespace(ns))
const keys = new Keys({ prefix: "omnibus:", namespace: ns })

describe("CloudEvents on Redis", () => {
  it("an entry Omnibus published decodes with the SDK's HTTP binding", async () => {
    const bus = await connect(REDIS_URL, { namespace: ns, cloudEvents: true, connectTimeoutMs: 5_000 })
    const group = unique("ce-out")
    await (await bus.subscribe("hr.*.hired", () => {}, { group })).close()
    const id = randomUUID()
    await bus.publish("hr.emea.hired", PUBLISHED.payload, { id, key: PUBLISHED.key, timestamp: PUBLISHED.timestamp })
    await bus.close()

    const plain = new Redis(REDIS_URL)
    try {
      const entries = (await plain.xrangeBuffer(keys.group(group), "-", "+")) as Array<[Buffer, Array<Buffer>]>
      expect(entries).toHaveLength(1)
      const fields = entries[0]![1]
      const headers: Record<string, string> = {}
      for (let i = 2; i < fields.length; i += 2) headers[fields[i]!.toString()] = fields[i + 1]!.toString()
      const event = HTTP.toEvent({ headers, body: fields[1]!.toString() }) as CloudEvent
      expectPublishedEvent(event, { id, type: "hr.emea.hired", source: `omnibus://redis/${ns}` })
    } finally {
      plain.disconnect()
    }
  })

  it("an event the SDK encoded reaches a handler with its attributes as the message's", async () => {
    const bus = await connect(REDIS_URL, { namespace: ns, connectTimeoutMs: 5_000 })
    const group = unique("ce-in")
    const got: Array<Message<unknown>> = []
    await bus.subscribe("hr.#", (m) => { got.push(m) }, { group, codec: json as never })
    const attributes = foreignEvent("com.example.hr.hired")
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    const message = HTTP.binary(new CloudEvent({ ...attributes, traceparent }))
    const { "content-type": contentType, ...headers } = message.headers as Record<string, string>
    const raw = rawProducer(REDIS_URL, ns)
    try {
      await raw.writeRaw([{ group, routingKey: "", payload: Buffer.from(String(message.body)), headers, contentType }])
      await eventually(async () => got.length === 1, 10_000, "the foreign CloudEvent")
    } finally {
      await raw.close()
      await bus.close()
    }
    expectDeliveredEvent(got[0]!, attributes, { "ce-traceparent": traceparent })
  })
})
