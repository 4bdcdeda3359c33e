/**
 * Request/reply. Requests go to the direct exchange `<p>rpc` under the method
 * name, `mandatory`, with reply_to = amq.rabbitmq.reply-to (direct reply-to:
 * no reply queue) and expiration = the timeout (a request nobody took in time
 * is dropped by the broker rather than served late). Servers of one group
 * share an auto-delete queue; with no server there is no queue, the request
 * is unroutable and basic.return reports NoResponders at once.
 */
import type { Channel, ChannelModel, ConsumeMessage, Message } from "amqplib"
import { BusClosed, NoResponders, PublishFailed } from "@omnibus/core"
import type { Consumption, Envelope, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import { brokerError, closeQuietly, replyCode, safeReason } from "./connection.ts"
import type { ConnectionHook, ConnectionManager } from "./connection.ts"
import { bodyOf, envelopeOf, rpcOptions } from "./mapping.ts"
import type { Topology } from "./topology.ts"

const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

export class RpcServer implements ConnectionHook, Consumption {
  readonly order = 25
  private readonly manager: ConnectionManager
  private readonly topology: Topology
  private readonly spec: ServeSpec
  private readonly onRequest: (request: IncomingRequest) => void
  private model: ChannelModel | undefined
  private ch: Channel | undefined
  private consumerTag: string | undefined
  private stopped = false

  constructor(manager: ConnectionManager, topology: Topology, spec: ServeSpec, onRequest: (request: IncomingRequest) => void) {
    this.manager = manager
    this.topology = topology
    this.spec = spec
    this.onRequest = onRequest
  }

  async start(): Promise<void> {
    const model = await this.manager.ready("serve")
    this.manager.addHook(this)
    try {
      await this.connected(model)
    } catch (e) {
      const code = replyCode(e)
      if (code !== undefined && code >= 400 && code < 500) {
        this.manager.removeHook(this)
        this.stopped = true
        throw brokerError(`serve ${this.spec.method}`, e)
      }
    }
  }

  async connected(model: ChannelModel): Promise<void> {
    if (this.stopped) return
    this.model = model
    const ch = await model.createChannel()
    ch.on("error", () => {})
    ch.on("close", () => {
      if (this.ch !== ch) return
      this.ch = undefined
      this.manager.reopenLater(model, () => !this.stopped && this.model === model && this.ch === undefined, () => this.connected(model))
    })
    try {
      await ch.prefetch(Math.max(1, this.spec.concurrency))
      const queue = await this.topology.declareRpcQueue(ch, this.spec.method, this.spec.group)
      if (this.model !== model || this.stopped) {
        await closeQuietly(ch)
        return
      }
      this.ch = ch
      const ok = await ch.consume(queue, (msg) => {
        if (msg === null) return void closeQuietly(ch)
        this.handle(ch, msg)
      }, { noAck: false })
      this.consumerTag = ok.consumerTag
    } catch (e) {
      if (this.ch === ch) this.ch = undefined
      await closeQuietly(ch)
      throw e
    }
  }

  disconnected(): void {
    this.model = undefined
    this.ch = undefined
  }

  private handle(ch: Channel, msg: ConsumeMessage): void {
    const replyTo: unknown = msg.properties.replyTo
    let done = false
    const request: IncomingRequest = {
      envelope: envelopeOf(msg),
      // Replies go out on the request's own channel, unconfirmed: direct reply-to is transient, a
      // confirm would only say the broker took it (not that the requester got it), and waiting for
      // one held each request's prefetch slot for a broker round trip (RPC x64 ran at 0.2 x amqplib).
      // A lost reply ends in the requester's timeout, as any reply lost in transit would.
      reply: async (reply: Envelope) => {
        if (typeof replyTo !== "string" || replyTo === "") return // fire-and-forget request
        try {
          ch.publish("", replyTo, bodyOf(reply), rpcOptions(reply))
        } catch (e) {
          throw new PublishFailed({ key: this.spec.method, reason: `reply not sent: ${safeReason(e)}`, cause: e })
        }
      },
      done: async () => {
        if (done) return
        done = true
        try { ch.ack(msg) } catch { /* channel gone: the request was requeued */ }
      },
    }
    this.onRequest(request)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    const ch = this.ch
    const tag = this.consumerTag
    if (ch && tag) await ch.cancel(tag).catch(() => {})
  }

  async close(): Promise<void> {
    await this.stop()
    this.manager.removeHook(this)
    const ch = this.ch
    this.ch = undefined
    if (ch) await closeQuietly(ch)
  }
}

interface Waiting {
  readonly method: string
  readonly resolve: (reply: Envelope) => void
  readonly reject: (error: unknown) => void
}

/** The requesting side: one channel consuming direct reply-to, replies matched by correlation id. */
export class RpcClient implements ConnectionHook {
  readonly order = 26
  private readonly manager: ConnectionManager
  private readonly topology: Topology
  private ch: Promise<Channel> | undefined
  private readonly waiting = new Map<string, Waiting>()

  constructor(manager: ConnectionManager, topology: Topology) {
    this.manager = manager
    this.topology = topology
  }

  // Opened lazily on first request, so a bus that never requests has no extra channel.
  async connected(): Promise<void> {}

  disconnected(): void {
    this.ch = undefined
  }

  private channel(): Promise<Channel> {
    if (this.ch) return this.ch
    const opening = (async () => {
      const model = await this.manager.ready("request")
      const ch = await model.createChannel()
      ch.on("error", () => {})
      ch.on("close", () => { if (this.ch === opening) this.ch = undefined })
      ch.on("return", (msg: Message) => {
        const id: unknown = msg.properties.correlationId
        if (typeof id !== "string") return
        const w = this.waiting.get(id)
        if (w) w.reject(new NoResponders({ method: w.method }))
      })
      await ch.consume(DIRECT_REPLY_TO, (msg) => {
        if (msg === null) return
        const id: unknown = msg.properties.correlationId
        const w = typeof id === "string" ? this.waiting.get(id) : undefined
        if (w) w.resolve(envelopeOf(msg)) // else: a late reply, dropped
      }, { noAck: true })
      return ch
    })()
    this.ch = opening
    opening.catch(() => { if (this.ch === opening) this.ch = undefined })
    return opening
  }

  request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    const method = request.routingKey
    const correlationId = request.correlationId ?? request.id
    if (options.signal.aborted) return Promise.reject(options.signal.reason)
    return new Promise<Envelope>((resolve, reject) => {
      // Core holds the deadline (rpc/client.ts) and aborts the signal when it passes;
      // the message's expiration lets the broker drop a request nobody waits for any more.
      const cleanup = () => {
        options.signal.removeEventListener("abort", onAbort)
        this.waiting.delete(correlationId)
      }
      const onAbort = () => { cleanup(); reject(options.signal.reason) }
      options.signal.addEventListener("abort", onAbort, { once: true })
      this.waiting.set(correlationId, {
        method,
        resolve: (reply) => { cleanup(); resolve(reply) },
        reject: (error) => { cleanup(); reject(error) },
      })
      this.channel().then(
        (ch) => {
          if (!this.waiting.has(correlationId)) return
          try {
            ch.publish(this.topology.settings.rpcExchange, method, bodyOf(request), {
              ...rpcOptions({ ...request, correlationId }),
              replyTo: DIRECT_REPLY_TO,
              mandatory: true,
              expiration: String(Math.max(1, Math.ceil(options.timeoutMs))),
            })
          } catch (e) {
            this.waiting.get(correlationId)?.reject(new PublishFailed({ key: method, reason: safeReason(e), cause: e }))
          }
        },
        (e) => this.waiting.get(correlationId)?.reject(e instanceof BusClosed ? e : new PublishFailed({ key: method, reason: safeReason(e), cause: e })),
      )
    })
  }

  /** Rejects every waiting request (closing or aborted bus). */
  failAll(operation: string): void {
    for (const w of [...this.waiting.values()]) w.reject(new BusClosed({ operation }))
  }

  async close(): Promise<void> {
    const ch = this.ch
    this.ch = undefined
    if (ch) await ch.then(closeQuietly, () => {})
  }
}
