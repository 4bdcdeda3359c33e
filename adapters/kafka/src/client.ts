/**
 * The one module that talks to the Kafka client library (kafkajs 2.2.4).
 * Everything else in the adapter uses the narrow `KafkaClient` interface
 * below, so the client can be swapped (e.g. for @platformatic/kafka) by
 * rewriting this file alone.
 */
import { Kafka, logLevel, type Admin, type Consumer, type IHeaders, type KafkaConfig, type Producer, type SASLOptions } from "kafkajs"
import type { ConnectionConfig } from "./config.ts"

export interface OutRecord {
  readonly key: string | undefined
  readonly value: Uint8Array
  readonly headers: Readonly<Record<string, string>>
}

export interface InRecord {
  readonly offset: string
  readonly key: string | undefined
  readonly value: Uint8Array
  readonly headers: Readonly<Record<string, string>>
  readonly timestamp: number
}

export interface InBatch {
  readonly topic: string
  readonly partition: number
  readonly records: ReadonlyArray<InRecord>
}

export interface CommittedOffset {
  readonly partition: number
  /** -1 when the group has committed nothing for the partition. */
  readonly offset: bigint
  readonly metadata: string | null
}

export interface BatchContext {
  /** Keeps the group session alive while handlers run (throws during a rebalance). */
  heartbeat(): Promise<void>
  /** Commits `offset` (the next offset to read) with metadata for this batch's partition. */
  commit(offset: bigint, metadata: string): Promise<void>
}

export interface GroupConsumerOptions {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly maxWaitMs: number
  /** Batches of different partitions handled side by side. */
  readonly concurrency: number
  readonly onBatch: (batch: InBatch, ctx: BatchContext) => Promise<void>
}

export interface GroupConsumer {
  /** Resolves once the consumer joined its group and got an assignment. */
  start(): Promise<void>
  /** Waits for running batch handlers, then leaves the group. */
  disconnect(): Promise<void>
}

export interface KafkaClient {
  connect(timeoutMs: number): Promise<void>
  send(topic: string, records: ReadonlyArray<OutRecord>): Promise<void>
  createTopics(topics: ReadonlyArray<{ readonly topic: string; readonly partitions: number }>, maxMessageBytes: number): Promise<void>
  deleteTopics(topics: ReadonlyArray<string>): Promise<void>
  listTopics(): Promise<ReadonlyArray<string>>
  committed(groupId: string, topic: string): Promise<ReadonlyArray<CommittedOffset>>
  endOffsets(topic: string): Promise<ReadonlyArray<{ readonly partition: number; readonly low: bigint; readonly high: bigint }>>
  /** Only works while the group has no members. */
  setOffsets(groupId: string, topic: string, offsets: ReadonlyArray<{ readonly partition: number; readonly offset: bigint }>): Promise<void>
  listGroups(): Promise<ReadonlyArray<string>>
  /** Member count per group (0 for unknown/empty groups). */
  groupMembers(groupIds: ReadonlyArray<string>): Promise<ReadonlyMap<string, number>>
  deleteGroups(groupIds: ReadonlyArray<string>): Promise<void>
  ping(): Promise<void>
  consumer(options: GroupConsumerOptions): GroupConsumer
  /**
   * Reads records with from[p] <= offset < to[p] of each partition and returns
   * them sorted by (timestamp, partition, offset); uses a throwaway consumer.
   */
  readRange(topic: string, from: ReadonlyMap<number, bigint>, to: ReadonlyMap<number, bigint>, timeoutMs: number): Promise<ReadonlyArray<InRecord & { readonly partition: number }>>
  disconnect(): Promise<void>
}

const headersToStrings = (h: IHeaders | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!h) return out
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    const one = Array.isArray(v) ? v[v.length - 1] : v
    if (one !== undefined) out[k] = typeof one === "string" ? one : one.toString("utf8")
  }
  return out
}

const isRetriable = (e: unknown): boolean =>
  typeof e === "object" && e !== null && ((e as { retriable?: unknown }).retriable === true || isRetriable((e as { cause?: unknown }).cause))

/** Admin calls right after broker start or topic creation meet "coordinator loading" / "not leader": retry those. */
const retrying = async <T>(fn: () => Promise<T>, deadlineMs = 15_000): Promise<T> => {
  const deadline = Date.now() + deadlineMs
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await fn()
    } catch (e) {
      if (!isRetriable(e) || Date.now() + delay > deadline) throw e
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

/** kafkajs logs through this: silent, so no broker address or SASL detail ever reaches a log. */
const silentLog = () => () => {}

export const makeKafkaClient = (config: ConnectionConfig): KafkaClient => {
  const kafkaConfig: KafkaConfig = {
    clientId: config.clientId,
    brokers: [...config.brokers],
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    logLevel: logLevel.NOTHING,
    logCreator: silentLog,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 10 },
  }
  if (config.ssl !== undefined) kafkaConfig.ssl = config.ssl
  if (config.sasl) kafkaConfig.sasl = config.sasl as SASLOptions
  const kafka = new Kafka(kafkaConfig)
  const admin: Admin = kafka.admin()
  let producer: Producer | undefined
  const consumers = new Set<Consumer>()

  const getProducer = (): Producer => {
    // Idempotent: broker-side dedup of producer retries; kafkajs requires one in-flight request for it.
    producer ??= kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
    return producer
  }

  const client: KafkaClient = {
    async connect(timeoutMs) {
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no broker answered within ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        await Promise.race([admin.connect(), deadline])
        await Promise.race([getProducer().connect(), deadline])
      } finally {
        clearTimeout(timer)
      }
    },
    async send(topic, records) {
      await retrying(() => getProducer().send({
        topic,
        acks: -1,
        messages: records.map((r) => ({ key: r.key ?? null, value: toBuffer(r.value), headers: { ...r.headers } })),
      }))
    },
    async createTopics(topics, maxMessageBytes) {
      if (topics.length === 0) return
      await retrying(() => admin.createTopics({
        // kafkajs' own leader wait gives up early on UNKNOWN_TOPIC_OR_PARTITION; we wait below.
        waitForLeaders: false,
        topics: topics.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions,
          configEntries: [{ name: "max.message.bytes", value: String(maxMessageBytes) }],
        })),
      }))
      const deadline = Date.now() + 15_000
      for (;;) {
        try {
          const md = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) })
          if (md.topics.length === topics.length && md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return
        } catch (e) {
          if (Date.now() > deadline) throw e
        }
        if (Date.now() > deadline) throw new Error(`topics ${topics.map((t) => t.topic).join(", ")} have no leader after 15 s`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async deleteTopics(topics) {
      if (topics.length > 0) await admin.deleteTopics({ topics: [...topics] })
    },
    listTopics: () => retrying(() => admin.listTopics()),
    async committed(groupId, topic) {
      const res = await retrying(() => admin.fetchOffsets({ groupId, topics: [topic] }))
      return (res[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: BigInt(p.offset), metadata: p.metadata }))
    },
    async endOffsets(topic) {
      const res = await retrying(() => admin.fetchTopicOffsets(topic))
      return res.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) }))
    },
    async setOffsets(groupId, topic, offsets) {
      if (offsets.length === 0) return
      // admin.setOffsets does the same with a 5 s fetch wait; this joins as a
      // short-lived member, commits, and leaves.
      const members = (await retrying(() => admin.describeGroups([groupId]))).groups[0]?.members.length ?? 0
      if (members > 0) throw new Error(`group ${groupId} has ${members} running member(s)`)
      const c = kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false })
      try {
        await c.connect()
        await c.subscribe({ topics: [topic] })
        await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} })
        c.pause([{ topic }])
        await retrying(() => c.commitOffsets(offsets.map((o) => ({ topic, partition: o.partition, offset: String(o.offset) }))))
      } finally {
        await c.disconnect().catch(() => undefined)
      }
    },
    async listGroups() {
      return (await retrying(() => admin.listGroups())).groups.map((g) => g.groupId)
    },
    async groupMembers(groupIds) {
      const out = new Map<string, number>()
      if (groupIds.length === 0) return out
      const res = await retrying(() => admin.describeGroups([...groupIds]))
      for (const g of res.groups) out.set(g.groupId, g.members.length)
      return out
    },
    async deleteGroups(groupIds) {
      if (groupIds.length > 0) await admin.deleteGroups([...groupIds])
    },
    async ping() {
      await admin.describeCluster()
    },
    consumer(options) {
      const consumer = kafka.consumer({
        groupId: options.groupId,
        sessionTimeout: options.sessionTimeoutMs,
        heartbeatInterval: options.heartbeatIntervalMs,
        rebalanceTimeout: Math.max(60_000, options.sessionTimeoutMs),
        maxWaitTimeInMs: options.maxWaitMs,
        allowAutoTopicCreation: false,
        maxBytes: 64 * 1024 * 1024,
      })
      consumers.add(consumer)
      let joined: (() => void) | undefined
      const joinedP = new Promise<void>((resolve) => {
        joined = resolve
      })
      consumer.on(consumer.events.GROUP_JOIN, () => joined?.())
      return {
        async start() {
          await consumer.connect()
          await consumer.subscribe({ topics: [...options.topics], fromBeginning: true })
          await consumer.run({
            autoCommit: false,
            partitionsConsumedConcurrently: options.concurrency,
            eachBatch: async ({ batch, heartbeat }) => {
              const records: Array<InRecord> = batch.messages.map((m) => ({
                offset: m.offset,
                key: m.key === null ? undefined : m.key.toString("utf8"),
                value: m.value === null ? new Uint8Array(0) : new Uint8Array(m.value.buffer, m.value.byteOffset, m.value.byteLength),
                headers: headersToStrings(m.headers),
                timestamp: Number(m.timestamp),
              }))
              await options.onBatch(
                { topic: batch.topic, partition: batch.partition, records },
                {
                  heartbeat,
                  commit: (offset, metadata) =>
                    consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(offset), metadata }]),
                },
              )
            },
          })
          await joinedP
        },
        async disconnect() {
          joined?.()
          consumers.delete(consumer)
          await consumer.disconnect()
        },
      }
    },
    async readRange(topic, from, to, timeoutMs) {
      const need = new Map<number, bigint>()
      for (const [p, end] of to) if (end > (from.get(p) ?? 0n)) need.set(p, end)
      if (need.size === 0) return []
      const groupId = `${config.clientId}-read-${Math.random().toString(36).slice(2)}-${Date.now()}`
      const out: Array<InRecord & { partition: number }> = []
      const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 })
      let finish: (() => void) | undefined
      const finished = new Promise<void>((resolve) => {
        finish = resolve
      })
      try {
        await consumer.connect()
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = need.get(batch.partition)
            for (const m of batch.messages) {
              const o = BigInt(m.offset)
              if (o < (from.get(batch.partition) ?? 0n) || end === undefined || o >= end) continue
              out.push({
                partition: batch.partition,
                offset: m.offset,
                key: m.key === null ? undefined : m.key.toString("utf8"),
                value: m.value === null ? new Uint8Array(0) : new Uint8Array(m.value.buffer, m.value.byteOffset, m.value.byteLength),
                headers: headersToStrings(m.headers),
                timestamp: Number(m.timestamp),
              })
            }
            if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) need.delete(batch.partition)
            if (need.size === 0) finish?.()
          },
        })
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          finished,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`reading ${topic} did not finish within ${timeoutMs} ms`)), timeoutMs)
          }),
        ]).finally(() => clearTimeout(timer))
      } finally {
        await consumer.disconnect().catch(() => undefined)
        await admin.deleteGroups([groupId]).catch(() => undefined)
      }
      return out.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1))
    },
    async disconnect() {
      await Promise.allSettled([...consumers].map((c) => c.disconnect()))
      await Promise.allSettled([producer?.disconnect(), admin.disconnect()])
    },
  }
  return client
}

/** The client's error classes, by name, for mapping to Omnibus' typed errors. */
export const errorKind = (e: unknown): "auth" | "connection" | "other" => {
  const name = e instanceof Error ? e.name : ""
  const causeName = e instanceof Error && e.cause instanceof Error ? e.cause.name : ""
  if (/SASL|Authentication/i.test(name) || /SASL|Authentication/i.test(causeName)) return "auth"
  if (/Connection|NumberOfRetriesExceeded|BrokerNotFound|NoBrokerAvailable/i.test(name)) return "connection"
  return "other"
}
