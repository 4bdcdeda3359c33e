/**
 * Raw @platformatic/kafka as its README writes it: Producer.send() (acks=all),
 * Consumer.consume() stream with autocommit, read with 'data' events.
 */
import { Admin, Consumer, MessagesStreamFallbackModes, MessagesStreamModes, ProduceAcks, Producer } from "@platformatic/kafka"
import type { Body, Contender, Session } from "../types.ts"
import { hostPort } from "../env.ts"
import { cleanupKafka } from "./cleanup.ts"
import { PARTITIONS } from "./kafkajs.ts"

class PlatformaticSession implements Session {
  private readonly brokers: Array<string>
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>
  private readonly ns: string
  private readonly consumers: Array<Consumer<Buffer, Buffer, Buffer, Buffer>> = []

  constructor(brokers: Array<string>, producer: Producer<Buffer, Buffer, Buffer, Buffer>, ns: string) {
    this.brokers = brokers
    this.producer = producer
    this.ns = ns
  }

  static async open(url: string, ns: string): Promise<PlatformaticSession> {
    const { host, port } = hostPort(url)
    const brokers = [`${host}:${port}`]
    const admin = new Admin({ clientId: `bench-${ns}-admin`, bootstrapBrokers: brokers })
    // A second process (the memory workload's consumer) finds the topic already there.
    if (!(await admin.listTopics()).includes(`${ns}-events`)) await admin.createTopics({ topics: [`${ns}-events`], partitions: PARTITIONS, replicas: 1 })
    await admin.close()
    const producer = new Producer({ clientId: `bench-${ns}`, bootstrapBrokers: brokers, acks: ProduceAcks.ALL, autocreateTopics: false })
    return new PlatformaticSession(brokers, producer, ns)
  }

  async publish(body: Body): Promise<void> {
    await this.producer.send({ messages: [{ topic: `${this.ns}-events`, value: Buffer.from(JSON.stringify(body)) }] })
  }

  async publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    await this.producer.send({ messages: bodies.map((b) => ({ topic: `${this.ns}-events`, value: Buffer.from(JSON.stringify(b)) })) })
  }

  async declareGroup(): Promise<void> {}

  async consume(group: string, onMessage: (b: Body) => void) {
    const consumer = new Consumer({ groupId: `${this.ns}-${group}`, clientId: `bench-${this.ns}-${group}`, bootstrapBrokers: this.brokers, sessionTimeout: 10_000, heartbeatInterval: 1_000 })
    this.consumers.push(consumer)
    const stream = await consumer.consume({ topics: [`${this.ns}-events`], mode: MessagesStreamModes.COMMITTED, fallbackMode: MessagesStreamFallbackModes.EARLIEST, autocommit: true })
    stream.on("data", (m) => onMessage(JSON.parse(m.value.toString()) as Body))
    stream.on("error", () => {})
    return {
      close: async () => {
        await stream.close().catch(() => {})
        await consumer.close(true).catch(() => {})
      },
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.close(true)))
    await this.producer.close().catch(() => {})
  }
}

export const platformaticRaw = (url: string): Contender => ({
  name: "platformatic-kafka",
  kind: "raw",
  skips: {
    rpc: "the request/reply-topic design is measured once, with kafkajs as the raw client (the Omnibus adapter runs on @platformatic/kafka itself)",
    selective: "a topic per type is measured once, with kafkajs as the raw client",
  },
  open: (ns) => PlatformaticSession.open(url, ns),
  cleanup: (ns) => cleanupKafka(url, ns),
})
