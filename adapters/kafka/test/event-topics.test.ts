/**
 * The `eventTopics` option on the broker (src/event-topics.ts): events go to
 * the topic their key's pattern maps to, a group reads only the topics its
 * patterns can reach (keys first published after it subscribed included), and
 * a plain producer's record on an existing mapped topic reaches the groups
 * under the mapping's key.
 */
import { randomUUID } from "node:crypto"
import { connect, type Bus, type Message } from "@omnibus/core"
import { eventually } from "@omnibus/conformance"
import { Kafka, logLevel, type Admin } from "kafkajs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import "../src/index.ts"
import { deleteGroups } from "../src/index.ts"
import { kafkaUrl } from "./broker.ts"

const id = randomUUID().slice(0, 8)
const prefix = `et-${id}`
const topics = { orders: `${prefix}-orders`, refunds: `${prefix}-refunds`, legacy: `${prefix}-legacy-audit` }
const eventTopics = { "orders.#": { topic: topics.orders, partitions: 3 }, "payments.refunded": topics.refunds, "audit.log": topics.legacy }

let url = ""
let bus: Bus
let admin: Admin
let kafka: Kafka
const groups: Array<string> = []

/** Records in a topic, as a plain consumer of it sees them. */
const recordsIn = async (topic: string): Promise<number> =>
  (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0)

/** The topics a consumer group holds offsets on: the topics it reads. */
const readsFrom = async (group: string): Promise<Array<string>> => {
  const all = [...Object.values(topics), `${prefix}.events`]
  const offsets = await admin.fetchOffsets({ groupId: `${prefix}/${group}`, topics: all })
  return offsets.filter((t) => t.partitions.some((p) => Number(p.offset) >= 0)).map((t) => t.topic).sort()
}

const collect = async (pattern: string, group: string): Promise<Array<Message<unknown>>> => {
  const got: Array<Message<unknown>> = []
  groups.push(group)
  await bus.subscribe(pattern, async (m) => void got.push(m), { group })
  return got
}

beforeAll(async () => {
  url = kafkaUrl()
  kafka = new Kafka({ clientId: "event-topics", brokers: [url.replace("kafka://", "")], logLevel: logLevel.NOTHING })
  admin = kafka.admin()
  await admin.connect()
  // An existing topic another producer writes, with its own partition count.
  await admin.createTopics({ topics: [{ topic: topics.legacy, numPartitions: 2 }], waitForLeaders: true })
  bus = await connect(url, { topicPrefix: prefix, eventTopics })
})

afterAll(async () => {
  await bus?.close()
  await deleteGroups(url, groups, { topicPrefix: prefix }).catch(() => undefined)
  await admin?.deleteTopics({ topics: [...Object.values(topics), `${prefix}.events`] }).catch(() => undefined)
  await admin?.disconnect()
})

describe("kafka eventTopics", () => {
  it("a group reads only the topics its patterns can reach; a wide pattern reads them all, with keys first published after it subscribed", async () => {
    const billing = await collect("orders.#", "billing")
    const refunds = await collect("payments.refunded", "refunds")
    const audit = await collect("#", "audit")
    await bus.publish("orders.placed", { n: 1 })
    await bus.publish("payments.refunded", { n: 2 })
    await bus.publish("users.created", { n: 3 })
    await bus.publish("orders.eu.cancelled", { n: 4 })

    await eventually(() => audit.length === 4 && billing.length === 2 && refunds.length === 1, {
      timeoutMs: 30_000,
      what: () => `deliveries: audit ${audit.length}/4, billing ${billing.length}/2, refunds ${refunds.length}/1`,
    })
    expect(billing.map((m) => m.routingKey).sort()).toEqual(["orders.eu.cancelled", "orders.placed"])
    expect(refunds.map((m) => m.payload)).toEqual([{ n: 2 }])
    expect(audit.map((m) => m.routingKey).sort()).toEqual(["orders.eu.cancelled", "orders.placed", "payments.refunded", "users.created"])

    expect(await recordsIn(topics.orders)).toBe(2)
    expect((await admin.fetchTopicOffsets(topics.orders)).length).toBe(3)
    expect((await admin.fetchTopicOffsets(topics.legacy)).length).toBe(2)
    expect(await recordsIn(topics.refunds)).toBe(1)
    expect(await recordsIn(`${prefix}.events`)).toBe(1)
    expect(await readsFrom("billing")).toEqual([topics.orders])
    expect(await readsFrom("refunds")).toEqual([topics.refunds])
    expect(await readsFrom("audit")).toEqual([`${prefix}.events`, topics.legacy, topics.orders, topics.refunds].sort())
  })

  it("a plain producer's record on an existing mapped topic reaches the group under the mapping's key", async () => {
    const got = await collect("audit.log", "compliance")
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: topics.legacy, messages: [{ key: "user-9", value: JSON.stringify({ action: "login" }), headers: { "content-type": "application/json" } }] })
    await producer.disconnect()
    await eventually(() => got.length === 1, { timeoutMs: 30_000, what: "the plain producer's record" })
    expect(got[0]).toMatchObject({ routingKey: "audit.log", key: "user-9", payload: { action: "login" } })
    expect(await readsFrom("compliance")).toEqual([topics.legacy])
  })
})
