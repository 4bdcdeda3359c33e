/**
 * CloudEvents on NATS (the NATS binding's binary mode: `ce-*` headers): with
 * `cloudEvents` on, a message Omnibus published, read from the stream with plain
 * nats.js, decodes with the CloudEvents SDK's HTTP decoder (the SDK has no NATS
 * binding; the NATS one uses the same `ce-` headers); an event the SDK encoded,
 * published by a plain client, reaches an Omnibus handler with its id, type,
 * time, subject and content type. The checks are shared by every adapter
 * (conformance/src/cloudevents.ts).
 */
import { randomUUID } from "node:crypto"
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/nats-core"
import { connect as natsConnect } from "@nats-io/transport-node"
import { connect, json, type Message } from "@omnibus/core"
import { expectDeliveredEvent, expectPublishedEvent, foreignEvent, PUBLISHED } from "@omnibus/conformance"
import { CloudEvent, HTTP } from "cloudevents"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { deleteGroups } from "../src/index.ts"
import { eventually, NATS_URL, unique } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

let nc: NatsConnection
const groups: Array<string> = []
beforeAll(async () => {
  nc = await natsConnect({ servers: new URL(NATS_URL).host })
})
afterAll(async () => {
  await nc?.close()
  await deleteGroups(NATS_URL, groups)
})

/** A routing-key word of this run, so runs sharing the broker never meet. */
const run = `ce${randomUUID().slice(0, 8)}`

describe("CloudEvents on NATS", () => {
  it("a message Omnibus published decodes with the SDK", async () => {
    const bus = await connect(NATS_URL, { cloudEvents: true, connectTimeoutMs: 5_000 })
    const id = randomUUID()
    const routingKey = `${run}.emea.hired`
    // The events stream keeps a message while a group has yet to take it: a group that is not consuming.
    const group = unique("ce-out")
    groups.push(group)
    await (await bus.subscribe(routingKey, () => {}, { group })).close()
    await bus.publish(routingKey, PUBLISHED.payload, { id, key: "emp 7 ü", timestamp: PUBLISHED.timestamp })
    await bus.close()

    const stored = await (await jetstreamManager(nc)).streams.getMessage("events", { last_by_subj: `events.${routingKey}` })
    expect(stored).not.toBeNull()
    const headers: Record<string, string> = {}
    for (const [k, vs] of stored!.header) headers[k] = vs.at(-1)!
    const event = HTTP.toEvent({ headers, body: new TextDecoder().decode(stored!.data) }) as CloudEvent
    // The NATS binding percent-encodes values (the SDK's HTTP decoder leaves them so) and names datacontenttype.
    expectPublishedEvent(event, { id, type: routingKey, source: "omnibus://nats/events", subject: "emp%207%20%C3%BC" })
    expect(headers["ce-datacontenttype"]).toBe("application/json")
  })

  it("an event the SDK encoded reaches a handler with its attributes as the message's", async () => {
    const bus = await connect(NATS_URL, { connectTimeoutMs: 5_000 })
    const got: Array<Message<unknown>> = []
    const group = unique("ce-in")
    groups.push(group)
    await bus.subscribe(`${run}.in.*`, (m) => { got.push(m) }, { group, codec: json as never })
    const attributes = foreignEvent("com.example.hr.hired")
    const message = HTTP.binary(new CloudEvent(attributes))
    const { "content-type": contentType, ...headers } = message.headers as Record<string, string>
    const raw = rawProducer(NATS_URL)
    try {
      await raw.writeRaw([{ group: "", routingKey: `${run}.in.hired`, payload: Buffer.from(String(message.body)), headers, contentType }])
      await eventually(() => got.length === 1, 10_000, "the foreign CloudEvent")
    } finally {
      await raw.close()
      await bus.close()
    }
    expectDeliveredEvent(got[0]!, attributes)
  })
})
