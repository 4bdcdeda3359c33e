/**
 * Soak against the machine's Kafka (scripts/kafka.sh; size: OMNIBUS_SOAK_MESSAGES,
 * default 20,000; `npm run soak`: 200,000). A run prefix of its own: the
 * groups read only the soak's events topic, which is deleted afterwards.
 */
import { randomBytes } from "node:crypto"
import { connect } from "@omnibus/core"
import { describeSoak } from "@omnibus/conformance/soak"
import { Kafka, logLevel } from "kafkajs"
import "../src/index.ts"
import { kafkaUrl } from "./broker.ts"

const url = kafkaUrl()
const prefix = `sk${randomBytes(4).toString("hex")}`

describeSoak("kafka", {
  connect: () => connect(`${url}?prefix=${prefix}`, { connectTimeoutMs: 20_000 }),
  // Deletes every topic and consumer group of the run prefix (plain kafkajs admin).
  cleanup: async () => {
    const kafka = new Kafka({ clientId: "soak-cleanup", brokers: url.replace(/^kafka:\/\//, "").split(","), logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    try {
      const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${prefix}/`))
      if (groups.length > 0) await admin.deleteGroups(groups)
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`))
      if (topics.length > 0) await admin.deleteTopics({ topics })
    } finally {
      await admin.disconnect()
    }
  },
})
