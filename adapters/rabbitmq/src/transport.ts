/**
 * The RabbitMQ Transport: wires the connection manager, the declarer, the
 * publisher, group consumers, RPC and the dead-letter store together.
 */
import { simulateCrash } from "@omnibus/core/adapter"
import type { ConnectionOptions } from "node:tls"
import { BusClosed } from "@omnibus/core"
import { cloudEventHeaders } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, Delivery, Envelope, GroupSpec, Health, IncomingRequest, OnPublishOutcome, PublishOutcome, ServeSpec, Transport, TransportLimits, TransportOptions } from "@omnibus/core/adapter"
import { ConnectionManager } from "./connection.ts"
import { declareGroup, GroupConsumer } from "./consumer.ts"
import type { ConsumerDeps } from "./consumer.ts"
import { RabbitDeadLetters } from "./dead-letters.ts"
import { bodyOf, publishOptions } from "./mapping.ts"
import { parseSettings } from "./options.ts"
import type { RabbitSettings } from "./options.ts"
import { Publisher } from "./publisher.ts"
import { RpcClient, RpcServer } from "./rpc.ts"
import { Declarer, Topology } from "./topology.ts"
import type { ForeignIds } from "./options.ts"

/** Options of this adapter on top of TransportOptions (also accepted as URL query parameters, except `tls`). */
export interface RabbitOptions extends TransportOptions {
  /** Topic exchange of events (default "events"). */
  readonly exchange?: string
  /** "classic" or "quorum" for group and delay queues (default: "quorum" when several hosts are named, else "classic"). */
  readonly queueType?: "classic" | "quorum"
  /**
   * More nodes of the cluster (host[:port], with the URL's credentials and vhost), besides
   * the URL's own host list (`amqp://u:p@h1,h2,h3/vh`): the connection tries them in turn.
   */
  readonly hosts?: ReadonlyArray<string> | string
  /** x-quorum-initial-group-size of declared quorum queues (default 3 when several hosts are named, else the broker's). */
  readonly quorumGroupSize?: number
  /** Prefix of every queue and Omnibus-owned exchange (default "omnibus."). */
  readonly queuePrefix?: string
  readonly rpcExchange?: string
  /** How long a publish waits for a reconnect before it fails (default 60 s). */
  readonly publishTimeoutMs?: number
  readonly reconnectMaxDelayMs?: number
  /** Shown by the broker as the connection's name (default "omnibus"). */
  readonly connectionName?: string
  /** Id of a message without message_id: "fresh" per delivery (default) or "content" (a hash, stable across redeliveries). */
  readonly foreignIds?: ForeignIds
  /** TLS settings for amqps:// (ca, cert, key, servername...). */
  readonly tls?: ConnectionOptions
}

export class RabbitTransport implements Transport {
  readonly name = "rabbitmq"
  readonly limits: TransportLimits
  readonly settings: RabbitSettings
  readonly deadLetters: RabbitDeadLetters
  private readonly manager: ConnectionManager
  private readonly topology: Topology
  private readonly declarer: Declarer
  private readonly publisher: Publisher
  private readonly rpc: RpcClient
  private readonly consumptions = new Set<Consumption>()
  private closed = false

  constructor(url: string, options: RabbitOptions) {
    this.settings = parseSettings(url, options)
    this.limits = { maxPayloadBytes: this.settings.maxPayloadBytes }
    this.manager = new ConnectionManager(this.settings, options.tls)
    this.topology = new Topology(this.settings)
    this.declarer = new Declarer(this.topology, this.manager)
    this.publisher = new Publisher(this.manager)
    this.rpc = new RpcClient(this.manager, this.topology)
    this.deadLetters = new RabbitDeadLetters(this.manager, this.topology, this.publisher)
    this.manager.addHook(this.declarer)
    this.manager.addHook(this.rpc)
    this.manager.addHook(this.publisher)
  }

  start(): Promise<void> {
    return this.manager.start()
  }

  private get deps(): ConsumerDeps {
    return { manager: this.manager, declarer: this.declarer, publisher: this.publisher }
  }

  private guard(operation: string): void {
    if (this.closed) throw new BusClosed({ operation })
  }

  async publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    this.guard("publish")
    const ce = this.settings.cloudEvents
    return this.publisher.send(
      batch.map((env) => ({ exchange: this.settings.exchange, routingKey: env.routingKey, content: bodyOf(env), options: publishOptions(env, ce && cloudEventHeaders(env, "amqp", ce), true), key: env.routingKey })),
      onOutcome,
    )
  }

  private track(c: GroupConsumer | RpcServer): Consumption {
    this.consumptions.add(c)
    return {
      stop: () => c.stop(),
      close: async () => {
        this.consumptions.delete(c)
        await c.close()
      },
    }
  }

  async consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    this.guard("subscribe")
    const consumer = new GroupConsumer(this.deps, spec, onDelivery)
    await consumer.start()
    return this.track(consumer)
  }

  async declareGroup(spec: GroupSpec): Promise<void> {
    this.guard("declareGroup")
    await declareGroup(this.deps, spec)
  }

  async serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption> {
    this.guard("serve")
    const server = new RpcServer(this.manager, this.topology, spec, onRequest)
    await server.start()
    return this.track(server)
  }

  async request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    this.guard("request")
    return this.rpc.request(request, options)
  }

  async health(): Promise<Health> {
    const state = this.manager.state
    if (state === "open") return { ready: true }
    return { ready: false, detail: this.manager.lastError ? `${state}: ${this.manager.lastError}` : state }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.publisher.flushAndStop()
    this.rpc.failAll("close")
    await Promise.all([...this.consumptions].map((c) => c.close().catch(() => {})))
    this.consumptions.clear()
    await this.rpc.close()
    await this.manager.close()
  }

  async [simulateCrash](): Promise<void> {
    this.closed = true
    this.manager.abort()
    this.publisher.failAll("connection aborted")
    this.rpc.failAll("abort")
  }
}
