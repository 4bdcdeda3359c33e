/**
 * Raw amqplib the way its docs and the RabbitMQ tutorials write it: a durable
 * topic exchange, one durable queue per group, persistent messages on a
 * ConfirmChannel (callback per message while a window is open;
 * waitForConfirms for a batch), consumers with prefetch and explicit acks,
 * RPC with direct reply-to (amq.rabbitmq.reply-to).
 */
import { randomUUID } from "node:crypto"
import * as amqp from "amqplib"
import type { Body, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { cleanupAmqp } from "./cleanup.ts"
import { PendingReplies, RPC_TIMEOUT_MS } from "./pending-replies.ts"
import { rabbitmqQueueType } from "../env.ts"

const RK = "bench.msg"
const RPC_METHOD = "echo"

/** What a message carries besides its body: the tutorials' bare properties, or those Omnibus sends (see ids()). */
type Props = () => amqp.Options.Publish

/**
 * How requests travel: straight to the server's queue with the tutorial's properties, or as
 * adapters/rabbitmq/src/rpc.ts sends them (`careful`): through a direct exchange with `mandatory`
 * (no server = the broker returns the request, the requester fails at once), an `expiration` of
 * the timeout (a request nobody took in time is dropped, not served late), and a message id and
 * millisecond timestamp on request and reply.
 */
type RpcStyle = "tutorial" | "careful"

const BARE: amqp.Options.Publish = { persistent: true, contentType: "application/json" }
const bare: Props = () => BARE

/** The message id and millisecond timestamp header Omnibus puts on events, requests and replies. */
const idAndTime = (ms = Date.now()): amqp.Options.Publish => ({ messageId: randomUUID(), headers: { "x-omnibus-timestamp": String(ms) } })

/**
 * The properties adapters/rabbitmq/src/mapping.ts (publishOptions) gives every event: a message id
 * (consumers' idempotency, retries and dead letters keep it), the AMQP timestamp in seconds and the
 * millisecond timestamp as the one header.
 */
const ids: Props = () => {
  const ms = Date.now()
  return { persistent: true, contentType: "application/json", timestamp: Math.floor(ms / 1000), ...idAndTime(ms) }
}

class AmqpSession implements Session {
  private readonly conn: amqp.ChannelModel
  private readonly pub: amqp.ConfirmChannel
  private readonly ns: string
  private readonly props: Props
  private readonly rpcStyle: RpcStyle
  private drainWait: Promise<void> | undefined
  private rpc: Promise<{ ch: amqp.Channel; pending: PendingReplies }> | undefined

  constructor(conn: amqp.ChannelModel, pub: amqp.ConfirmChannel, ns: string, props: Props, rpcStyle: RpcStyle) {
    this.conn = conn
    this.pub = pub
    this.ns = ns
    this.props = props
    this.rpcStyle = rpcStyle
  }

  static async open(url: string, ns: string, props: Props, rpcStyle: RpcStyle = "tutorial"): Promise<AmqpSession> {
    const conn = await amqp.connect(url, { noDelay: true }) // as the adapter: no Nagle delay on RPC
    const pub = await conn.createConfirmChannel()
    await pub.assertExchange(`${ns}.x`, "topic", { durable: true })
    return new AmqpSession(conn, pub, ns, props, rpcStyle)
  }

  /** publish() returns false when the socket buffer is full: wait for 'drain' as the docs say. */
  private async write(body: Body, cb?: (err: unknown) => void, key = RK): Promise<void> {
    while (this.drainWait) await this.drainWait
    const ok = this.pub.publish(`${this.ns}.x`, key, Buffer.from(JSON.stringify(body)), this.props(), cb)
    if (!ok) this.drainWait ??= new Promise<void>((r) => this.pub.once("drain", () => { this.drainWait = undefined; r() }))
  }

  publish(body: Body): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      void this.write(body, (err) => (err ? reject(err as Error) : resolve()))
    })
  }

  publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    return this.publishTyped(bodies.map((body) => ({ type: RK, body })))
  }

  /** One topic exchange for every type; the routing key is the type. */
  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    for (const x of items) await this.write(x.body, undefined, x.type)
    await this.pub.waitForConfirms()
  }

  /** The group's queue is bound to its one type only: the broker routes nothing else to it. */
  async declareGroup(group: string, type = RK): Promise<void> {
    const q = `${this.ns}.${group}`
    await this.pub.assertQueue(q, { durable: true, arguments: { "x-queue-type": rabbitmqQueueType() } })
    await this.pub.bindQueue(q, `${this.ns}.x`, type)
  }

  async consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    await this.declareGroup(group, o.type)
    const ch = await this.conn.createChannel()
    await ch.prefetch(o.prefetch)
    const { consumerTag } = await ch.consume(`${this.ns}.${group}`, (msg) => {
      if (!msg) return
      onMessage(JSON.parse(msg.content.toString()) as Body)
      ch.ack(msg)
    })
    return {
      close: async () => {
        await ch.cancel(consumerTag).catch(() => {})
        await ch.close().catch(() => {})
      },
    }
  }

  async serve() {
    const ch = await this.conn.createChannel()
    const q = `${this.ns}.rpc`
    await ch.assertQueue(q, { durable: false, autoDelete: true })
    if (this.rpcStyle === "careful") {
      await ch.assertExchange(`${this.ns}.rpcx`, "direct", { durable: true })
      await ch.bindQueue(q, `${this.ns}.rpcx`, RPC_METHOD)
    }
    await ch.prefetch(64)
    const { consumerTag } = await ch.consume(q, (msg) => {
      if (!msg) return
      const req = JSON.parse(msg.content.toString()) as { seq: number }
      ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(JSON.stringify({ seq: req.seq })), this.rpcProps({ correlationId: msg.properties.correlationId as string, contentType: "application/json" }))
      ch.ack(msg)
    })
    return { close: async () => { await ch.cancel(consumerTag).catch(() => {}); await ch.close().catch(() => {}) } }
  }

  private replies() {
    return (this.rpc ??= (async () => {
      const ch = await this.conn.createChannel()
      const pending = new PendingReplies()
      ch.on("return", (msg: amqp.Message) => pending.refuse(msg.properties.correlationId as string, new Error("no server for the request")))
      await ch.consume("amq.rabbitmq.reply-to", (msg) => {
        if (!msg) return
        JSON.parse(msg.content.toString())
        pending.reply(msg.properties.correlationId as string)
      }, { noAck: true })
      return { ch, pending }
    })())
  }

  async request(seq: number): Promise<void> {
    const rpc = await this.replies()
    const body = Buffer.from(JSON.stringify({ seq }))
    if (this.rpcStyle === "tutorial") return rpc.pending.request((id) => rpc.ch.sendToQueue(`${this.ns}.rpc`, body, { correlationId: id, replyTo: "amq.rabbitmq.reply-to", contentType: "application/json" }))
    return rpc.pending.request((id) =>
      rpc.ch.publish(`${this.ns}.rpcx`, RPC_METHOD, body, this.rpcProps({ correlationId: id, replyTo: "amq.rabbitmq.reply-to", contentType: "application/json", mandatory: true, expiration: String(RPC_TIMEOUT_MS) })),
    )
  }

  /** A request's or reply's properties: as given, or with the id and timestamp Omnibus adds (careful). */
  private rpcProps(o: amqp.Options.Publish): amqp.Options.Publish {
    return this.rpcStyle === "tutorial" ? o : { ...o, ...idAndTime() }
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => {})
  }
}

export const amqplibRaw = (url: string): Contender => ({
  name: "amqplib",
  kind: "raw",
  skips: {},
  open: (ns) => AmqpSession.open(url, ns, bare),
  cleanup: (ns, groups) => cleanupAmqp(url, { exchanges: [`${ns}.x`, `${ns}.rpcx`], queues: [...groups.map((g) => `${ns}.${g}`), `${ns}.rpc`] }),
})

/**
 * Raw amqplib sending the properties Omnibus puts on every event, which the broker parses and
 * stores per message (bench/FINDINGS.md, "RabbitMQ publish"): the id that consumers'
 * idempotency, retries and dead letters rely on, and the millisecond timestamp.
 */
export const amqplibIds = (url: string): Contender => ({
  ...amqplibRaw(url),
  name: "amqplib-ids",
  skips: {
    selective: "its consumer is amqplib's (this contender differs in event properties only)",
  },
  notes:
    "raw amqplib sending what Omnibus sends: on every event a message id (idempotency, retries, dead letters) and the millisecond timestamp header; " +
    "requests through a direct exchange, mandatory (no server: an error at once), with an expiration of the timeout, ids and timestamps on request and reply",
  open: (ns) => AmqpSession.open(url, ns, ids, "careful"),
})
