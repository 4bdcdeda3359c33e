/**
 * The Redis transport: Redis Streams + consumer groups for events, lists for
 * RPC, Lua scripts for every multi-key step. See README.md for the key layout.
 */
import { simulateCrash } from "@omnibus/core/adapter"
import { BusClosed, InvalidOptions } from "@omnibus/core"
import { cloudEventsSettings, DEFAULT_MAX_PAYLOAD_BYTES, defaultCloudEventsSource } from "@omnibus/core/adapter"
import type { Envelope } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, DeadLetterStore, Delivery, GroupSpec, Health, IncomingRequest, OnPublishOutcome, PublishOutcome, ServeSpec, Transport, TransportLimits, TransportOptions } from "@omnibus/core/adapter"
import type { ConnectionOptions as TlsOptions } from "node:tls"
import type { Redis } from "ioredis"
import { describe, guard, openClient, parseRedisUrl, type ConnectionSettings } from "./connection.ts"
import { StreamConsumer } from "./consumer.ts"
import type { AdapterContext } from "./context.ts"
import { RedisDeadLetters } from "./dead-letters.ts"
import type { EntryLayout } from "./fields.ts"
import { Keys } from "./keys.ts"
import { publishBatch, type PublisherOptions } from "./publisher.ts"
import { RpcClient, RpcServer } from "./rpc.ts"
import { withScripts, type ScriptedRedis } from "./scripts.ts"
import { declareGroup } from "./topology.ts"

/** Options of the Redis adapter (besides core's TransportOptions). */
export interface RedisTransportOptions extends TransportOptions {
  /** Literal start of every key (default "omnibus:"); ACLs can scope users to `~<prefix>*`. */
  readonly prefix?: string
  /** Hash-tagged namespace (default "default"): separate namespaces never see each other's messages. */
  readonly namespace?: string
  /** Publish-side dedup window per message id, ms (default 120000; 0 disables it). */
  readonly dedupWindowMs?: number
  /** How long a publish keeps trying through a reconnect before PublishFailed (default 30000). */
  readonly publishTimeoutMs?: number
  /** RPC server heartbeat period, ms (default 1000; a server is dead after 3 missed beats). */
  readonly rpcHeartbeatMs?: number
  /**
   * Dead-link detection, ms (default 5000; 0 = off): the command connection is
   * PINGed this often and, with no answer within the same time, every
   * connection of the transport is dropped and reconnected (a half-open TCP
   * link otherwise blocks reads and publishes until the OS gives up).
   */
  readonly heartbeatMs?: number
  /** Extra TLS settings for rediss:// (e.g. `{ ca }` for a private CA, client cert and key). */
  readonly tls?: TlsOptions
  /**
   * Redis Cluster (URL parameter `cluster=true`): connect with a cluster client seeded by the
   * URL's hosts. Default: true when the URL names several hosts, else false.
   */
  readonly cluster?: boolean
  /**
   * Confirm a publish only once this many replicas acknowledged it (`WAIT n`, also URL parameter
   * `waitReplicas`; default 0 = on the primary's word). Replication is asynchronous: without it, a
   * confirmed message not yet on a replica is lost when a failover promotes that replica.
   * WAIT narrows this window, it does not make Redis strongly consistent (docs/clusters.md).
   */
  readonly waitReplicas?: number
  /**
   * How long one WAIT blocks the command connection (default 1000, also URL parameter): a publish
   * not acknowledged by enough replicas by then is sent again (the dedup marker keeps one copy; with
   * dedupWindowMs 0 the stream gets a second one) until publishTimeoutMs, then fails with PublishFailed.
   */
  readonly waitTimeoutMs?: number
  /**
   * How a published stream entry carries its headers (also URL parameter `entryLayout`):
   * "compact" (default) writes them as one JSON field, `x-omnibus-headers`; "flat" writes a
   * field per header, for readers that expect one (and for a fleet where versions that read only
   * that layout still consume). Consumers read both. With `cloudEvents` on, entries are flat.
   */
  readonly entryLayout?: EntryLayout
}

const positive = (options: TransportOptions, name: string, fallback: number, allowZero = false): number => {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new InvalidOptions({ option: name, reason: `must be a ${allowZero ? "non-negative" : "positive"} number of ms` })
  }
  return v
}

/** An option that may also come from the URL's query (the options object wins). */
const fromUrl = (options: TransportOptions, query: URLSearchParams, name: string): TransportOptions => {
  const v = options[name] ?? query.get(name) ?? undefined
  return { [name]: typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : v }
}

const replicas = (options: TransportOptions): number => {
  const v = options["waitReplicas"] ?? 0
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new InvalidOptions({ option: "waitReplicas", reason: "must be a whole number of replicas (0 = do not wait)" })
  return v
}

const layoutOf = (options: TransportOptions): EntryLayout => {
  const v = options["entryLayout"] ?? "compact"
  if (v !== "compact" && v !== "flat") throw new InvalidOptions({ option: "entryLayout", reason: 'must be "compact" or "flat"' })
  return v
}

const word = (options: TransportOptions, name: string, fallback: string): string => {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== "string" || /[\s{}]/.test(v)) throw new InvalidOptions({ option: name, reason: "must be a string without whitespace or braces" })
  return v
}

/** The key layout of the options' `prefix` and `namespace` (keys.ts). */
export const keysFor = (options: TransportOptions): Keys =>
  new Keys({ prefix: word(options, "prefix", "omnibus:"), namespace: word(options, "namespace", "default") })

export class RedisTransport implements Transport {
  readonly name = "redis"
  readonly limits: TransportLimits
  readonly deadLetters: DeadLetterStore

  private readonly settings: ConnectionSettings
  private readonly cmd: ScriptedRedis
  private readonly ctx: AdapterContext
  private readonly publisher: PublisherOptions
  private readonly rpcHeartbeatMs: number
  private readonly connectTimeoutMs: number
  private readonly consumptions = new Set<StreamConsumer | RpcServer>()
  private readonly blockers = new Set<Redis>()
  private settleClient: Promise<ScriptedRedis> | undefined
  private readonly inFlight = new Set<Promise<unknown>>()
  private readonly rpc: RpcClient
  private closing = false
  private ended = false
  private fatal: Error | undefined
  private readonly heartbeatMs: number
  private watchdog: NodeJS.Timeout | undefined
  private probing = false

  static async create(url: string, options: RedisTransportOptions): Promise<RedisTransport> {
    const connectTimeoutMs = positive(options, "connectTimeoutMs", 10_000)
    const tls = options.tls
    if (tls !== undefined && (typeof tls !== "object" || tls === null)) throw new InvalidOptions({ option: "tls", reason: "must be a node:tls options object" })
    const settings = parseRedisUrl(url, connectTimeoutMs, tls, options["cluster"])
    const leaseMs = positive(options, "leaseMs", 30_000)
    const maxPayloadBytes = positive(options, "maxPayloadBytes", DEFAULT_MAX_PAYLOAD_BYTES)
    const namespace = word(options, "namespace", "default")
    const keys = keysFor(options)
    const publisher: PublisherOptions = {
      cloudEvents: cloudEventsSettings(options, defaultCloudEventsSource("redis", namespace)),
      dedupWindowMs: Math.round(positive(options, "dedupWindowMs", 120_000, true)),
      publishTimeoutMs: positive(options, "publishTimeoutMs", 30_000),
      waitReplicas: replicas(fromUrl(options, settings.query, "waitReplicas")),
      waitTimeoutMs: positive(fromUrl(options, settings.query, "waitTimeoutMs"), "waitTimeoutMs", 1_000),
      layout: layoutOf(fromUrl(options, settings.query, "entryLayout")),
    }
    const rpcHeartbeatMs = positive(options, "rpcHeartbeatMs", 1_000)
    const heartbeatMs = positive(options, "heartbeatMs", 5_000, true)
    const cmd = withScripts(await openClient(settings, connectTimeoutMs, "omnibus"))
    return new RedisTransport(settings, cmd, keys, { leaseMs, connectTimeoutMs, maxPayloadBytes, publisher, rpcHeartbeatMs, heartbeatMs })
  }

  private constructor(
    settings: ConnectionSettings,
    cmd: ScriptedRedis,
    keys: Keys,
    o: { leaseMs: number; connectTimeoutMs: number; maxPayloadBytes: number; publisher: PublisherOptions; rpcHeartbeatMs: number; heartbeatMs: number },
  ) {
    this.settings = settings
    this.cmd = cmd
    this.publisher = o.publisher
    this.rpcHeartbeatMs = o.rpcHeartbeatMs
    this.connectTimeoutMs = o.connectTimeoutMs
    this.limits = { maxPayloadBytes: o.maxPayloadBytes }
    this.ctx = {
      keys,
      cmd,
      leaseMs: o.leaseMs,
      sweepMs: Math.max(50, Math.min(1_000, Math.floor(o.leaseMs / 4))),
      isOpen: () => !this.ended,
      heartbeatMs: o.heartbeatMs,
      openBlocker: (name) => this.openBlocker(name),
      settler: () => this.settler(),
      declared: new Map<string, GroupSpec>(),
    }
    this.deadLetters = new RedisDeadLetters(this.ctx)
    this.rpc = new RpcClient(this.ctx)
    guard(cmd, (e) => { this.fatal = e })
    this.heartbeatMs = o.heartbeatMs
    if (this.heartbeatMs > 0) {
      this.watchdog = setInterval(() => void this.checkLink(), this.heartbeatMs)
      this.watchdog.unref()
    }
    // A restarted server may have lost groups and bindings: declare them again.
    cmd.on("ready", () => {
      for (const spec of this.ctx.declared.values()) void declareGroup(cmd, keys, spec).catch(() => {})
    })
  }

  /**
   * Heartbeat: a PING unanswered for heartbeatMs means the link is dead
   * without the socket knowing (frozen peer, half-open TCP): drop every
   * connection so ioredis reconnects; commands in flight are re-sent
   * (publishes are deduplicated by id, reads resume).
   */
  private async checkLink(): Promise<void> {
    if (this.ended || this.closing || this.probing || this.cmd.status !== "ready") return
    this.probing = true
    let timer: NodeJS.Timeout | undefined
    try {
      const answered = await Promise.race([
        this.cmd.ping().then(() => true, () => true),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.heartbeatMs) }),
      ])
      if (!answered && !this.ended && this.cmd.status === "ready") {
        this.cmd.disconnect(true)
        for (const b of this.blockers) b.disconnect(true)
      }
    } finally {
      clearTimeout(timer)
      this.probing = false
    }
  }

  private async openBlocker(name: string): Promise<Redis> {
    if (this.ended) throw new BusClosed({ operation: "consume" })
    const client = await openClient(this.settings, this.connectTimeoutMs, name)
    guard(client, () => {})
    client.on("error", () => {})
    this.blockers.add(client)
    client.once("end", () => this.blockers.delete(client))
    if (this.ended) {
      client.disconnect(false)
      throw new BusClosed({ operation: "consume" })
    }
    return client
  }

  /** Opened once; a failed open is retried by the next consumer. Dropped with the blockers (heartbeat, close, abort). */
  private settler(): Promise<ScriptedRedis> {
    this.settleClient ??= this.openBlocker("omnibus:settle").then(withScripts, (e: unknown) => {
      this.settleClient = undefined
      throw e
    })
    return this.settleClient
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p)
    const done = () => { this.inFlight.delete(p) }
    p.then(done, done)
    return p
  }

  publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    if (this.closing || this.ended) return Promise.reject(new BusClosed({ operation: "publish" }))
    return this.track(publishBatch(this.cmd, this.ctx.keys, this.publisher, batch, () => !this.ended, onOutcome))
  }

  async consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closing || this.ended) throw new BusClosed({ operation: "consume" })
    const consumer = new StreamConsumer(this.ctx, spec, onDelivery)
    this.consumptions.add(consumer)
    try {
      await consumer.start()
    } catch (e) {
      this.consumptions.delete(consumer)
      await consumer.close().catch(() => {})
      throw e
    }
    return this.wrap(consumer)
  }

  private wrap(c: StreamConsumer | RpcServer): Consumption {
    return {
      stop: () => c.stop(),
      close: async () => {
        try {
          await c.close()
        } finally {
          this.consumptions.delete(c)
        }
      },
    }
  }

  async declareGroup(spec: GroupSpec): Promise<void> {
    if (this.closing || this.ended) throw new BusClosed({ operation: "declareGroup" })
    await declareGroup(this.cmd, this.ctx.keys, spec)
    if (!spec.ephemeral) this.ctx.declared.set(spec.group, spec)
  }

  async serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption> {
    if (this.closing || this.ended) throw new BusClosed({ operation: "serve" })
    const server = new RpcServer(this.ctx, spec, { heartbeatMs: this.rpcHeartbeatMs }, onRequest)
    this.consumptions.add(server)
    try {
      await server.start()
    } catch (e) {
      this.consumptions.delete(server)
      await server.close().catch(() => {})
      throw e
    }
    return this.wrap(server)
  }

  request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.closing || this.ended) return Promise.reject(new BusClosed({ operation: "request" }))
    return this.rpc.request(request, options)
  }

  async health(): Promise<Health> {
    if (this.ended) return { ready: false, detail: "closed" }
    if (this.fatal) return { ready: false, detail: describe(this.fatal) }
    if (this.cmd.status !== "ready") return { ready: false, detail: `connection ${this.cmd.status} (${this.settings.safeUrl})` }
    try {
      let timer: NodeJS.Timeout | undefined
      const pong = await Promise.race([
        this.cmd.ping(),
        new Promise<string>((r) => { timer = setTimeout(() => r("timeout"), 2_000) }),
      ])
      clearTimeout(timer)
      return pong === "PONG" ? { ready: true } : { ready: false, detail: `ping: ${pong}` }
    } catch (e) {
      return { ready: false, detail: describe(e) }
    }
  }

  async close(): Promise<void> {
    if (this.closing || this.ended) return
    this.closing = true
    clearInterval(this.watchdog)
    for (const c of [...this.consumptions]) await c.close().catch(() => {})
    this.consumptions.clear()
    await Promise.allSettled([...this.inFlight])
    this.rpc.close()
    this.ended = true
    for (const b of [...this.blockers]) b.disconnect(false)
    await this.cmd.quit().catch(() => this.cmd.disconnect(false))
  }

  async [simulateCrash](): Promise<void> {
    if (this.ended) return
    clearInterval(this.watchdog)
    this.ended = true
    this.closing = true
    for (const c of this.consumptions) c.abort()
    this.consumptions.clear()
    this.rpc.close()
    for (const b of [...this.blockers]) b.disconnect(false)
    this.cmd.disconnect(false)
  }
}
