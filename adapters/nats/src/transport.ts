/** The Transport over NATS: JetStream for events, core NATS for RPC. */
import { simulateCrash } from "@omnibus/core/adapter"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { BrokerError, BusClosed } from "@omnibus/core"
import type { ConsumeSpec, Consumption, DeadLetterStore, Delivery, Envelope, GroupSpec, Health, IncomingRequest, OnPublishOutcome, PublishOutcome, ServeSpec, Transport, TransportLimits, TransportOptions } from "@omnibus/core/adapter"
import { parseSettings } from "./config.ts"
import type { NatsSettings } from "./config.ts"
import { electing, Link, openConnection, reasonOf, retryUntil, ServerPick } from "./connection.ts"
import { GroupConsumption } from "./consumer.ts"
import type { Ctx } from "./context.ts"
import { NatsDeadLetters } from "./dead-letters.ts"
import { Publisher } from "./publisher.ts"
import { request, serve } from "./rpc.ts"
import { Topology } from "./topology.ts"
import { WireCodec } from "./wire.ts"

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())])

export class NatsTransport implements Transport {
  readonly name = "nats"
  readonly limits: TransportLimits
  readonly deadLetters: DeadLetterStore
  private readonly ctx: Ctx
  private readonly consumptions = new Set<GroupConsumption>()
  private closing: Promise<void> | undefined

  private constructor(ctx: Ctx) {
    this.ctx = ctx
    this.limits = { maxPayloadBytes: ctx.settings.maxPayloadBytes }
    this.deadLetters = new NatsDeadLetters(ctx)
  }

  static async create(url: string, options: TransportOptions): Promise<NatsTransport> {
    const settings: NatsSettings = parseSettings(url, options)
    const deadline = Date.now() + settings.connectTimeoutMs
    const pick = new ServerPick()
    const nc = await openConnection(settings, pick)
    // while the cluster elects its JetStream leaders a bus connecting waits, as it waits for a server not up yet
    try {
      const jsm = await retryUntil(deadline, () => jetstreamManager(nc), electing)
      const js = jetstream(nc)
      const link = new Link(nc, pick)
      const wire = new WireCodec(js, jsm, settings.blobStream, nc.info?.max_payload ?? 1024 * 1024)
      const topology = new Topology(jsm, settings)
      const publisher = new Publisher(link, wire, settings)
      const ctx: Ctx = { link, js, jsm, settings, topology, wire, publisher }
      await retryUntil(deadline, () => topology.ensureStreams(), electing)
      return new NatsTransport(ctx)
    } catch (e) {
      await nc.close().catch(() => undefined)
      if (e instanceof BrokerError) throw e
      throw new BrokerError({ operation: `JetStream on ${settings.safeUrl}`, reason: reasonOf(e), cause: e })
    }
  }

  publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    return this.ctx.publisher.publish(batch, onOutcome)
  }

  async consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (!this.ctx.link.usable) throw new BusClosed({ operation: "consume" })
    const c = new GroupConsumption(this.ctx, spec, onDelivery, (x) => this.consumptions.delete(x))
    this.consumptions.add(c)
    try {
      await c.start()
    } catch (e) {
      c.halt()
      this.consumptions.delete(c)
      throw e
    }
    return c
  }

  async declareGroup(spec: GroupSpec): Promise<void> {
    if (!this.ctx.link.usable) throw new BusClosed({ operation: "declareGroup" })
    const t = this.ctx.topology
    await t.patiently(() => t.ensureStreams())
    if (spec.ephemeral) return
    await t.patiently(() => t.ensureConsumer(this.ctx.settings.stream, t.groupConsumerConfig(spec.group, spec.patterns, 1)))
    await t.patiently(() => t.ensureConsumer(this.ctx.settings.replayStream, t.replayConsumerConfig(spec.group)))
  }

  serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption> {
    return serve(this.ctx, spec, onRequest)
  }

  request(req: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    return request(this.ctx, req, options)
  }

  async health(): Promise<Health> {
    const link = this.ctx.link
    if (link.aborted || link.closing || link.nc.isClosed()) return { ready: false, detail: "closed" }
    if (!link.connected) return { ready: false, detail: "reconnecting" }
    try {
      // A stalled link (no PONG) must not read as healthy: the timeout is a "not ready".
      const flushed = await withTimeout(link.nc.flush().then(() => true), 2_000)
      if (flushed !== true) return { ready: false, detail: "no answer from the server within 2000 ms (stalled link)" }
      return { ready: true, detail: `connected to ${link.nc.getServer()}` }
    } catch (e) {
      return { ready: false, detail: reasonOf(e) }
    }
  }

  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    const link = this.ctx.link
    link.closing = true
    // In-flight publishes settle first (confirmed, or failed after publishTimeoutMs).
    await Promise.allSettled([...this.ctx.publisher.inFlight])
    for (const c of [...this.consumptions]) c.halt()
    this.consumptions.clear()
    if (!link.nc.isClosed()) {
      await withTimeout(link.nc.flush().catch(() => undefined), 2_000)
      await link.nc.close().catch(() => undefined)
    }
  }

  async [simulateCrash](): Promise<void> {
    const link = this.ctx.link
    link.aborted = true
    for (const c of [...this.consumptions]) c.halt()
    this.consumptions.clear()
    await link.nc.close().catch(() => undefined)
  }

  /** Consumers named after a group (for residue checks). */
  countGroupConsumers(group: string): Promise<number> {
    return this.ctx.topology.countGroupConsumers(group)
  }

  /** Admin: deletes a group's consumers (its dead letters stay until purged). */
  deleteGroup(group: string): Promise<void> {
    return this.ctx.topology.deleteGroup(group)
  }
}
