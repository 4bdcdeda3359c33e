/**
 * Raw kafkajs as its docs write it: producer.send() per message (many in
 * flight) or with a 1,000-message array, acks=all; a consumer group with
 * run({ eachBatch }) (the docs' high-throughput mode, offsets resolved and
 * committed by kafkajs); RPC over a request topic and a reply topic with a
 * correlation-id header (no built-in request/reply in Kafka).
 */
import kafkajs from "kafkajs"
import type { Consumer, Kafka, Producer } from "kafkajs"
import type { Body, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { hostPort } from "../env.ts"
import { cleanupKafka } from "./cleanup.ts"
import { PendingReplies } from "./pending-replies.ts"

export const PARTITIONS = 6

const joined = (consumer: Consumer): Promise<void> =>
  new Promise((resolve) => {
    const off = consumer.on(consumer.events.GROUP_JOIN, () => { off(); resolve() })
  })

const createTopics = async (kafka: Kafka, topics: ReadonlyArray<string>, partitions = PARTITIONS): Promise<void> => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    // Not waitForLeaders: kafkajs then reads the new topics' metadata once and fails on the
    // UNKNOWN_TOPIC_OR_PARTITION a fresh KRaft broker may still answer ("This server does not host this
    // topic-partition", the first run after a broker start failed so in 4 of 6 tries). The loop below waits
    // until every partition has a leader, and until the leader serves it (ListOffsets; a KRaft broker shows
    // the leader before it hosts the partition).
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })) })
    const served = () => Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic))).then(() => true, () => false)
    for (let i = 0; i < 100; i++) {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...topics] }).catch(() => ({ topics: [] as Array<{ partitions: Array<{ leader: number }> }> }))
      if (meta.length === topics.length && meta.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0)) && (await served())) break
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await admin.disconnect()
  }
}

class KafkajsSession implements Session {
  private readonly kafka: Kafka
  private readonly producer: Producer
  private readonly ns: string
  private readonly consumers: Array<Consumer> = []
  /** Topics of the selective workload's types created so far. */
  private readonly typeTopics = new Set<string>()
  private rpc: Promise<PendingReplies> | undefined

  constructor(kafka: Kafka, producer: Producer, ns: string) {
    this.kafka = kafka
    this.producer = producer
    this.ns = ns
  }

  static async open(url: string, ns: string): Promise<KafkajsSession> {
    const { host, port } = hostPort(url)
    const kafka = new kafkajs.Kafka({ clientId: `bench-${ns}`, brokers: [`${host}:${port}`], logLevel: kafkajs.logLevel.NOTHING })
    await createTopics(kafka, [`${ns}-events`, `${ns}-rpc`, `${ns}-reply`])
    const producer = kafka.producer()
    await producer.connect()
    return new KafkajsSession(kafka, producer, ns)
  }

  async publish(body: Body): Promise<void> {
    await this.producer.send({ topic: `${this.ns}-events`, acks: -1, messages: [{ value: JSON.stringify(body) }] })
  }

  async publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    await this.producer.send({ topic: `${this.ns}-events`, acks: -1, messages: bodies.map((b) => ({ value: JSON.stringify(b) })) })
  }

  /**
   * A topic per type (the selective workload), created before its first
   * message, with one partition: 50 types × 6 partitions would be 300
   * partitions for 1/50 of the traffic each, and a produce request spread
   * over 300 partitions could not keep the workload's rate.
   */
  private async topicsOf(types: ReadonlyArray<string>): Promise<Array<string>> {
    const topics = types.map((type) => `${this.ns}-type-${type}`)
    const missing = [...new Set(topics.filter((t) => !this.typeTopics.has(t)))]
    if (missing.length) {
      await createTopics(this.kafka, missing, 1)
      for (const t of missing) this.typeTopics.add(t)
    }
    return topics
  }

  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    const topics = await this.topicsOf(items.map((x) => x.type))
    const byTopic = new Map<string, Array<{ value: string }>>()
    items.forEach((x, i) => {
      const messages = byTopic.get(topics[i]!) ?? []
      messages.push({ value: JSON.stringify(x.body) })
      byTopic.set(topics[i]!, messages)
    })
    await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
  }

  /** A consumer group that has never committed starts from the beginning (fromBeginning): only a type's topic to create. */
  async declareGroup(_group: string, type?: string): Promise<void> {
    if (type) await this.topicsOf([type])
  }

  async consume(group: string, onMessage: (b: Body) => void, o?: ConsumeOptions) {
    const topic = o?.type ? (await this.topicsOf([o.type]))[0]! : `${this.ns}-events`
    const consumer = this.kafka.consumer({ groupId: `${this.ns}-${group}`, sessionTimeout: 10_000 })
    this.consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const join = joined(consumer)
    await consumer.run({
      partitionsConsumedConcurrently: PARTITIONS,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) onMessage(JSON.parse(m.value!.toString()) as Body)
      },
    })
    await join
    return { close: () => consumer.disconnect() }
  }

  async serve() {
    const consumer = this.kafka.consumer({ groupId: `${this.ns}-rpc-server`, sessionTimeout: 10_000, maxWaitTimeInMs: 100 })
    this.consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topic: `${this.ns}-rpc`, fromBeginning: false })
    const join = joined(consumer)
    await consumer.run({
      partitionsConsumedConcurrently: PARTITIONS,
      eachMessage: async ({ message }) => {
        const req = JSON.parse(message.value!.toString()) as { seq: number }
        await this.producer.send({ topic: `${this.ns}-reply`, acks: 1, messages: [{ value: JSON.stringify({ seq: req.seq }), headers: { "correlation-id": message.headers!["correlation-id"]! } }] })
      },
    })
    await join
    return { close: () => consumer.disconnect() }
  }

  private replies() {
    return (this.rpc ??= (async () => {
      const pending = new PendingReplies()
      const consumer = this.kafka.consumer({ groupId: `${this.ns}-rpc-client`, sessionTimeout: 10_000, maxWaitTimeInMs: 100 })
      this.consumers.push(consumer)
      await consumer.connect()
      await consumer.subscribe({ topic: `${this.ns}-reply`, fromBeginning: false })
      const join = joined(consumer)
      await consumer.run({
        partitionsConsumedConcurrently: PARTITIONS,
        eachMessage: async ({ message }) => {
          JSON.parse(message.value!.toString())
          pending.reply(message.headers!["correlation-id"]!.toString())
        },
      })
      await join
      return pending
    })())
  }

  async request(seq: number): Promise<void> {
    const pending = await this.replies()
    await pending.request((id) => this.producer.send({ topic: `${this.ns}-rpc`, acks: 1, messages: [{ value: JSON.stringify({ seq }), headers: { "correlation-id": id } }] }))
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.disconnect()))
    await this.producer.disconnect().catch(() => {})
  }
}

export const kafkajsRaw = (url: string): Contender => ({
  name: "kafkajs",
  kind: "raw",
  skips: {},
  notes: "not an idempotent producer (the kafkajs default); Omnibus' Kafka adapter uses idempotent: true, maxInFlightRequests: 1",
  open: (ns) => KafkajsSession.open(url, ns),
  cleanup: (ns) => cleanupKafka(url, ns),
})
