/**
 * Interop with plain Kafka clients: a record written by a plain kafkajs
 * producer (routing key in the x-omnibus-routing-key header) reaches an
 * Omnibus subscription, and a plain consumer reads what Omnibus published
 * (payload as the value, ordering key as the record key, metadata as headers).
 */
import { randomUUID } from "node:crypto"
import { connect, type Bus } from "@omnibus/core"
import { Kafka, logLevel } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import "../src/index.ts"
import { kafkaUrl } from "./broker.ts"

let url = ""
let bus: Bus
let kafka: Kafka
beforeAll(async () => {
  url = kafkaUrl()
  bus = await connect(url)
  kafka = new Kafka({ clientId: "interop", brokers: [url.replace("kafka://", "")], logLevel: logLevel.NOTHING })
})
afterAll(async () => {
  await bus?.close()
})

describe("kafka interop", () => {
  it("a plain kafkajs producer's record reaches an Omnibus subscription", async () => {
    const key = `interop.in.${randomUUID().slice(0, 8)}`
    let resolve: (v: { body: unknown; key: string | undefined }) => void = () => {}
    const got = new Promise<{ body: unknown; key: string | undefined }>((r) => {
      resolve = r
    })
    const sub = await bus.subscribe(key, async (m) => resolve({ body: m.payload, key: m.key }), { group: `interop-${randomUUID()}` })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic: "omnibus.events",
      messages: [{ key: "order-7", value: JSON.stringify({ plain: true }), headers: { "x-omnibus-routing-key": key, "content-type": "application/json" } }],
    })
    await producer.disconnect()
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("not delivered within 30 s")), 30_000))
    const m = await Promise.race([got, timeout])
    expect(m.body).toEqual({ plain: true })
    expect(m.key).toBe("order-7")
    await sub.close()
  })

  it("a plain kafkajs consumer reads a record Omnibus published", async () => {
    const key = `interop.out.${randomUUID().slice(0, 8)}`
    const consumer = kafka.consumer({ groupId: `plain-${randomUUID()}`, maxWaitTimeInMs: 200 })
    await consumer.connect()
    await consumer.subscribe({ topics: ["omnibus.events"], fromBeginning: true })
    let resolve: (v: { value: string; key: string; headers: Record<string, string> }) => void = () => {}
    const got = new Promise<{ value: string; key: string; headers: Record<string, string> }>((r) => {
      resolve = r
    })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
        if (headers["x-omnibus-routing-key"] === key) resolve({ value: String(message.value), key: String(message.key), headers })
      },
    })
    await bus.publish(key, { from: "omnibus" }, { key: "cust-1" })
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("not read within 30 s")), 30_000))
    const m = await Promise.race([got, timeout])
    await consumer.disconnect()
    expect(JSON.parse(m.value)).toEqual({ from: "omnibus" })
    expect(m.key).toBe("cust-1")
    expect(m.headers["content-type"]).toBe("application/json")
    expect(m.headers["x-omnibus-id"]).toBeTruthy()
  })
})
