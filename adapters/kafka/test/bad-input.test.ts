/**
 * Bad input against the machine's Kafka (scripts/kafka.sh): raw records
 * produced with plain kafkajs to the events topic (`<prefix>.events`, the
 * documented layout: payload as the value, metadata as headers), as a
 * foreign producer would. A run prefix of its own keeps the 2,000 records
 * out of every other test's groups.
 */
import { randomBytes } from "node:crypto"
import { connect, json } from "@omnibus/core"
import { describeBadInput } from "@omnibus/conformance/bad-input"
import type { Admin } from "kafkajs"
import { describe, expect, it } from "vitest"
import "../src/index.ts"
import { kafkaUrl } from "./broker.ts"
import { rawKafka, rawProducer, ROUTING_KEY_HEADER } from "./raw-producer.ts"

const url = kafkaUrl()
const prefix = `bi${randomBytes(4).toString("hex")}`
const kafka = rawKafka(url)
const raw = rawProducer(kafka, prefix)

/** Deletes every topic and consumer group of a run prefix. */
const dropPrefix = async (p: string): Promise<void> => {
  const admin: Admin = kafka.admin()
  await admin.connect()
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${p}/`))
    if (groups.length > 0) await admin.deleteGroups(groups)
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${p}.`))
    if (topics.length > 0) await admin.deleteTopics({ topics })
  } finally {
    await admin.disconnect()
  }
}

describeBadInput("kafka", {
  connect: (options) => connect(`${url}?prefix=${prefix}`, { connectTimeoutMs: 20_000, ...options }),
  writeRaw: raw.writeRaw,
  // Two groups join and rebalance; the DLQ is read with plain fetches.
  eventuallyMs: 45_000,
  cleanup: async () => {
    await raw.close()
    await dropPrefix(prefix)
  },
})

describe("kafka: records a plain producer can write that the shared suite does not", () => {
  it("tombstones (null value) and records without a routing key neither stall the group nor get lost", async () => {
    // a prefix of its own: the suite above drops its prefix when its block ends
    const own = `${prefix}n`
    const bus = await connect(`${url}?prefix=${own}`, { connectTimeoutMs: 20_000 })
    const group = `bi-null-${randomBytes(4).toString("hex")}`
    const key = `${group}.x`
    try {
      const handled: Array<unknown> = []
      await bus.subscribe(key, (m) => { handled.push(m.payload) }, { group, codec: json })
      const raw = kafka.producer({ allowAutoTopicCreation: false })
      await raw.connect()
      try {
        await raw.send({
          topic: `${own}.events`,
          acks: -1,
          messages: [
            // addressed to the group, no value: a decode failure for the JSON contract
            { key: "k1", value: null, headers: { [ROUTING_KEY_HEADER]: key, "content-type": "application/json", mark: "tombstone" } },
            // no routing key: addressed to no group (its routing key is the topic name), skipped and committed
            { key: "k2", value: Buffer.from("{}"), headers: { "content-type": "application/json" } },
            { key: "k3", value: null },
            { key: "k1", value: Buffer.from(JSON.stringify({ after: true })), headers: { [ROUTING_KEY_HEADER]: key, "content-type": "application/json" } },
          ],
        })
      } finally {
        await raw.disconnect()
      }
      const deadline = Date.now() + 30_000
      let dead: Awaited<ReturnType<typeof bus.deadLetters.list>> = []
      while (Date.now() < deadline && (handled.length < 1 || dead.length < 1)) {
        dead = await bus.deadLetters.list(group)
        if (handled.length < 1 || dead.length < 1) await new Promise((r) => setTimeout(r, 100))
      }
      expect(handled).toEqual([{ after: true }])
      expect(dead.map((d) => [d.headers.mark, d.failure.errorName, d.routingKey])).toEqual([["tombstone", "DecodeFailed", key]])
      expect(dead[0]!.failure.error).toMatch(/cannot decode application\/json/)
    } finally {
      await bus.close()
      await dropPrefix(own)
    }
  })
})
