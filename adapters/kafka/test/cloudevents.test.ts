/**
 * CloudEvents on Kafka (the Kafka binding's binary mode: `ce_*` headers,
 * datacontenttype as the content-type header, the ordering key as the record
 * key): with `cloudEvents` on, a record Omnibus published, read by a plain
 * kafkajs consumer, decodes with the CloudEvents SDK's Kafka binding; a record
 * the SDK encoded, produced by plain kafkajs, reaches an Omnibus handler with
 * its id, type, time, subject and content type. The checks are shared by every
 * adapter (conformance/src/cloudevents.ts).
 */
import { randomUUID } from "node:crypto"
import { connect, json, type Bus, type Message } from "@omnibus/core"
import { eventually, expectDeliveredEvent, expectPublishedEvent, foreignEvent, PUBLISHED } from "@omnibus/conformance"
import { CloudEvent, Kafka as KafkaBinding } from "cloudevents"
import { Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import "../src/index.ts"
import { kafkaUrl } from "./broker.ts"

let url = ""
let kafka: Kafka
const buses: Array<Bus> = []
beforeAll(() => {
  url = kafkaUrl()
  kafka = new Kafka({ clientId: "cloudevents", brokers: url.replace("kafka://", "").split(","), logLevel: logLevel.NOTHING })
})
afterAll(async () => {
  for (const b of buses) await b.close()
})

/** A routing-key word of this run, so runs sharing the broker never meet. */
const run = `ce${randomUUID().slice(0, 8)}`

/** A record as the SDK's Kafka binding takes it. */
interface RawRecord {
  readonly headers: Record<string, string>
  readonly key: string
  readonly value: string
  readonly body: string
  readonly timestamp: string
}

describe("CloudEvents on Kafka", () => {
  it("a record Omnibus published decodes with the SDK's Kafka binding", async () => {
    const routingKey = `${run}.emea.hired`
    // Published first: the publish creates the events topic as Omnibus lays it out. A plain
    // consumer subscribing before the topic exists has the broker auto-create it (with the
    // broker's partition count), and its first fetches could meet the new partitions before the
    // broker hosts them ("This server does not host this topic-partition"). fromBeginning reads
    // the record whenever the consumer starts.
    const bus = await connect(url, { cloudEvents: true })
    buses.push(bus)
    const id = randomUUID()
    await bus.publish(routingKey, PUBLISHED.payload, { id, key: PUBLISHED.key, timestamp: PUBLISHED.timestamp })
    const consumer = kafka.consumer({ groupId: `plain-${randomUUID()}`, maxWaitTimeInMs: 200 })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: ["omnibus.events"], fromBeginning: true })
      const records: Array<RawRecord> = []
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {}
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
          const value = String(message.value)
          if (headers["ce_type"] === routingKey) records.push({ headers, key: String(message.key), value, body: value, timestamp: message.timestamp })
        },
      })
      await eventually(() => records.length > 0, { timeoutMs: 30_000, what: "the record" })
      const event = KafkaBinding.toEvent(records[0]!) as CloudEvent
      expectPublishedEvent(event, { id, type: routingKey, source: "omnibus://kafka/omnibus.events" })
      expect(event["partitionkey"]).toBe(PUBLISHED.key)
    } finally {
      await consumer.disconnect()
    }
  })

  it("a record the SDK encoded reaches a handler with its attributes as the message's", async () => {
    const bus = await connect(url)
    buses.push(bus)
    const got: Array<Message<unknown>> = []
    await bus.subscribe(`com.example.${run}.*`, (m) => { got.push(m) }, { group: `ce-in-${run}`, codec: json as never })
    const attributes = foreignEvent(`com.example.${run}.hired`)
    const message = KafkaBinding.binary(new CloudEvent({ ...attributes, partitionkey: attributes.subject }))
    const producer = kafka.producer()
    await producer.connect()
    try {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(message.headers)) if (v !== undefined) headers[k] = String(v)
      await producer.send({ topic: "omnibus.events", acks: -1, messages: [{ key: String(message.key), value: JSON.stringify(message.value), headers }] })
    } finally {
      await producer.disconnect()
    }
    await eventually(() => got.length === 1, { timeoutMs: 30_000, what: "the foreign CloudEvent" })
    // The record key is the ordering key; the SDK also wrote it as the partitionkey extension.
    expectDeliveredEvent(got[0]!, attributes, { ce_partitionkey: attributes.subject })
  })
})
