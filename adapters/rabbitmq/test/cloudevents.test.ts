/**
 * CloudEvents on RabbitMQ (the AMQP binding's binary mode): with `cloudEvents`
 * on, a plain amqplib consumer finds every attribute as a `cloudEvents_*`
 * application property (headers table) and datacontenttype as the content_type
 * property. The CloudEvents SDK has no AMQP binding, so the test reads the
 * properties as the binding specifies and has the SDK validate the event they
 * make. And an event a plain producer published with the binding's other
 * separator (`cloudEvents:`) and a native AMQP timestamp reaches an Omnibus
 * handler with its id, type, time and subject. The checks are shared by every
 * adapter (conformance/src/cloudevents.ts).
 */
import * as amqp from "amqplib"
import { connect, json, type Bus, type Message } from "@omnibus/core"
import { expectDeliveredEvent, expectPublishedEvent, foreignEvent, PUBLISHED } from "@omnibus/conformance"
import { CloudEvent } from "cloudevents"
import { afterEach, expect, it } from "vitest"
import "../src/index.ts"
import { cleanupGroups, k, unique, until, URL_ } from "./helpers.ts"

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {})
  await cleanupGroups()
})

const bus = async (options: { readonly cloudEvents?: boolean } = {}): Promise<Bus> => {
  const b = await connect(URL_, options)
  cleanup.push(() => b.close())
  return b
}

const plain = async (): Promise<amqp.Channel> => {
  const model = await amqp.connect(URL_)
  cleanup.push(() => model.close())
  return model.createChannel()
}

it("a message Omnibus published carries the attributes as the AMQP binding's application properties", async () => {
  const ch = await plain()
  await ch.assertExchange("events", "topic", { durable: true })
  const { queue } = await ch.assertQueue("", { exclusive: true })
  const routingKey = k("hr.emea.hired")
  await ch.bindQueue(queue, "events", routingKey)
  const got: Array<amqp.ConsumeMessage> = []
  await ch.consume(queue, (msg) => { if (msg) got.push(msg) }, { noAck: true })

  const b = await bus({ cloudEvents: true })
  await b.publish(routingKey, PUBLISHED.payload, { id: "emp-7-hired", key: PUBLISHED.key, timestamp: PUBLISHED.timestamp })
  await until(() => got.length === 1, "the published message")

  const msg = got[0]!
  const attributes: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(msg.properties.headers ?? {})) if (name.startsWith("cloudEvents_")) attributes[name.slice("cloudEvents_".length)] = value
  // Every attribute but datacontenttype is an application property, as a string (the canonical form).
  expect(Object.keys(attributes).sort()).toEqual(["id", "source", "specversion", "subject", "time", "type"])
  for (const value of Object.values(attributes)) expect(typeof value).toBe("string")
  // Binary mode: datacontenttype is the content-type property, the data the body as is.
  const event = new CloudEvent({ ...attributes, datacontenttype: msg.properties.contentType, data: JSON.parse(msg.content.toString("utf8")) }, false)
  expectPublishedEvent(event, { id: "emp-7-hired", type: routingKey, source: "omnibus://rabbitmq/events" })
})

it("a CloudEvent of a plain AMQP producer reaches a handler with its attributes as the message's", async () => {
  const b = await bus()
  const got: Array<Message<unknown>> = []
  await b.subscribe(k("hr.in.*"), (m) => { got.push(m) }, { group: unique("ce-in"), codec: json as never })
  const event = foreignEvent("com.example.hr.hired")
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
  const ch = await plain()
  ch.publish("events", k("hr.in.hired"), Buffer.from(JSON.stringify(event.data)), {
    contentType: event.datacontenttype,
    headers: {
      "cloudEvents:specversion": "1.0",
      "cloudEvents:id": event.id,
      "cloudEvents:source": event.source,
      "cloudEvents:type": event.type,
      "cloudEvents:time": { "!": "timestamp", value: Date.parse(event.time) / 1000 },
      "cloudEvents:subject": event.subject,
      "cloudEvents:traceparent": traceparent,
    },
  })
  await until(() => got.length === 1, "the foreign CloudEvent")
  expectDeliveredEvent(got[0]!, event, { "cloudEvents:traceparent": traceparent })
})
