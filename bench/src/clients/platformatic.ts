/**
 * Raw @platformatic/kafka as its README writes it: Producer.send() (acks=all),
 * Consumer.consume() stream with autocommit, read with 'data' events.
 *
 * `platformatic-kafka-ids` is the same client sending what Omnibus's Kafka
 * adapter sends with every event (adapters/kafka/src/wire.ts over core's
 * toWireHeaders): an idempotent producer, and per record a message id (the
 * consumers' idempotency, retries and dead letters keep it), the routing key
 * (what groups filter on in a shared topic), the content type and the
 * millisecond timestamp as headers.
 */
import { randomUUID } from "node:crypto"
import { Admin, Consumer, MessagesStreamFallbackModes, MessagesStreamModes, ProduceAcks, Producer } from "@platformatic/kafka"
import type { Body, Contender, Session } from "../types.ts"
import { hostPort } from "../env.ts"
import { cleanupKafka } from "./cleanup.ts"
import { PARTITIONS } from "./kafkajs.ts"

const RK = "bench.msg"

/** What the producer sends: the README's (no headers), or what Omnibus sends (see the file's comment). */
interface Sends {
  readonly idempotent: boolean
  readonly headers: () => Map<Buffer, Buffer> | undefined
}

const PLAIN: Sends = { idempotent: false, headers: () => undefined }
const IDS: Sends = {
  idempotent: true,
  headers: () =>
    new Map([
      [Buffer.from("x-omnibus-id"), Buffer.from(randomUUID())],
      [Buffer.from("x-omnibus-routing-key"), Buffer.from(RK)],
      [Buffer.from("content-type"), Buffer.from("application/json")],
      [Buffer.from("x-omnibus-timestamp"), Buffer.from(String(Date.now()))],
    ]),
}

class PlatformaticSession implements Session {
  private readonly brokers: Array<string>
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>
  private readonly ns: string
  private readonly headers: Sends["headers"]
  private readonly consumers: Array<Consumer<Buffer, Buffer, Buffer, Buffer>> = []

  constructor(brokers: Array<string>, producer: Producer<Buffer, Buffer, Buffer, Buffer>, ns: string, headers: Sends["headers"]) {
    this.brokers = brokers
    this.producer = producer
    this.ns = ns
    this.headers = headers
  }

  static async open(url: string, ns: string, sends: Sends = PLAIN): Promise<PlatformaticSession> {
    const { host, port } = hostPort(url)
    const brokers = [`${host}:${port}`]
    const admin = new Admin({ clientId: `bench-${ns}-admin`, bootstrapBrokers: brokers })
    // A second process (the memory workload's consumer) finds the topic already there.
    if (!(await admin.listTopics()).includes(`${ns}-events`)) await admin.createTopics({ topics: [`${ns}-events`], partitions: PARTITIONS, replicas: 1 })
    await admin.close()
    const producer = new Producer({ clientId: `bench-${ns}`, bootstrapBrokers: brokers, acks: ProduceAcks.ALL, autocreateTopics: false, idempotent: sends.idempotent })
    return new PlatformaticSession(brokers, producer, ns, sends.headers)
  }

  private record(body: Body) {
    return { topic: `${this.ns}-events`, value: Buffer.from(JSON.stringify(body)), headers: this.headers() }
  }

  async publish(body: Body): Promise<void> {
    await this.producer.send({ messages: [this.record(body)] })
  }

  async publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    await this.producer.send({ messages: bodies.map((b) => this.record(b)) })
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

export const platformaticIds = (url: string): Contender => {
  const raw = platformaticRaw(url)
  return {
    ...raw,
    name: "platformatic-kafka-ids",
    skips: {
      ...raw.skips,
      memory: "its consumer is @platformatic/kafka's (this contender differs in what it sends)",
      import: "it imports @platformatic/kafka (this contender differs in what it sends)",
    },
    notes: "raw @platformatic/kafka with what Omnibus sends per event: idempotent producer, id, routing key, content type and timestamp headers",
    open: (ns) => PlatformaticSession.open(url, ns, IDS),
  }
}
