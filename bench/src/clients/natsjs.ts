/**
 * Raw nats.js (v3: @nats-io/transport-node + @nats-io/jetstream) as its docs
 * write it: a file-backed stream, js.publish() with many publishes in flight
 * (pipelining; each resolves on its PubAck), a durable pull consumer read with
 * consume() and explicit acks, RPC with core NATS request / queue-group
 * subscription.
 *
 * `nats.js-ackack` is the same client acknowledging the way Omnibus's NATS
 * consumer does: `ackAck()`, whose promise the server confirms, so an ack lost
 * on the way is known (adapters/nats/src/connection.ts `Link.confirm`), where
 * `ack()` is fire-and-forget.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import type { Body, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { hostPort } from "../env.ts"
import { cleanupNats } from "./cleanup.ts"
import { RPC_TIMEOUT_MS } from "./pending-replies.ts"

const enc = new TextEncoder()

class NatsSession implements Session {
  private readonly nc: NatsConnection
  private readonly js: JetStreamClient
  private readonly jsm: JetStreamManager
  private readonly ns: string
  private readonly confirmAcks: boolean
  constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, ns: string, confirmAcks: boolean) {
    this.nc = nc
    this.js = js
    this.jsm = jsm
    this.ns = ns
    this.confirmAcks = confirmAcks
  }

  static async open(url: string, ns: string, confirmAcks = false): Promise<NatsSession> {
    const { host, port } = hostPort(url)
    const nc = await connect({ servers: `${host}:${port}`, name: `bench-${ns}` })
    const jsm = await jetstreamManager(nc)
    // Interest retention, as a stream with durable consumers per group would be
    // configured for "every group gets each message once".
    await jsm.streams.add({ name: ns, subjects: [`${ns}.>`], storage: StorageType.File, retention: RetentionPolicy.Interest })
    return new NatsSession(nc, jetstream(nc), jsm, ns, confirmAcks)
  }

  async publish(body: Body): Promise<void> {
    await this.js.publish(`${this.ns}.msg`, enc.encode(JSON.stringify(body)))
  }

  publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    return this.publishTyped(bodies.map((body) => ({ type: "msg", body })))
  }

  /** A subject per type (`<stream>.<type>`), all in the one stream. JetStream has no batch publish (2.9): pipeline them and wait for every PubAck. */
  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    await Promise.all(items.map((x) => this.js.publish(`${this.ns}.${x.type}`, enc.encode(JSON.stringify(x.body)))))
  }

  /** With a type, the consumer's filter subject is that type's: the server delivers nothing else. */
  async declareGroup(group: string, type?: string): Promise<void> {
    await this.jsm.consumers.add(this.ns, { durable_name: group, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000, ...(type ? { filter_subject: `${this.ns}.${type}` } : {}) })
  }

  async consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    await this.declareGroup(group, o.type)
    const c = await this.js.consumers.get(this.ns, group)
    const messages = await c.consume({ max_messages: o.prefetch })
    const loop = (async () => {
      for await (const m of messages) {
        onMessage(m.json<Body>())
        if (this.confirmAcks) void m.ackAck().catch(() => false)
        else m.ack()
      }
    })()
    return {
      close: async () => {
        await messages.close().catch(() => {})
        await loop.catch(() => {})
      },
    }
  }

  /**
   * Outside the stream's subjects (`<ns>.>`): a request there would be stored by JetStream,
   * whose PubAck to the request's inbox would answer it before the server does.
   */
  private get rpcSubject(): string {
    return `${this.ns}-rpc.echo`
  }

  async serve() {
    const sub = this.nc.subscribe(this.rpcSubject, {
      queue: "echo",
      callback: (err, msg) => {
        if (err) return
        const req = msg.json<{ seq: number }>()
        msg.respond(enc.encode(JSON.stringify({ seq: req.seq })))
      },
    })
    return { close: async () => { sub.unsubscribe() } }
  }

  async request(seq: number): Promise<void> {
    const m = await this.nc.request(this.rpcSubject, enc.encode(JSON.stringify({ seq })), { timeout: RPC_TIMEOUT_MS })
    m.json()
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => {})
  }
}

export const natsRaw = (url: string): Contender => ({
  name: "nats.js",
  kind: "raw",
  skips: {},
  open: (ns) => NatsSession.open(url, ns),
  cleanup: (ns) => cleanupNats(url, ns),
})

const SAME_AS_NATS_JS = "its publishes and requests are nats.js's (this contender differs in how it acknowledges)"

export const natsAckAck = (url: string): Contender => ({
  ...natsRaw(url),
  name: "nats.js-ackack",
  skips: { publish: SAME_AS_NATS_JS, "publish-batch": SAME_AS_NATS_JS, rpc: SAME_AS_NATS_JS, memory: SAME_AS_NATS_JS, import: SAME_AS_NATS_JS },
  notes: "raw nats.js acknowledging with ackAck(), confirmed by the server, as Omnibus's NATS consumer does",
  open: (ns) => NatsSession.open(url, ns, true),
})
