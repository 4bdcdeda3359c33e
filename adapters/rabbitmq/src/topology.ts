/**
 * Names and declarations of every broker object the adapter uses. Queue names
 * put a "/" (never valid in a routing-key word) between a group and a suffix,
 * so no group name can collide with another group's delay or dead-letter queue.
 *
 *   events (topic)          <- publishers; group queues bound with their patterns
 *   <p><group>              group queue (classic or quorum), competing consumers
 *   <p><group>/delay        delayed retries of the group, timed by its consumers (delay.ts)
 *   <p><group>/dlq          dead letters of the group
 *   <p>rpc (direct)         <- requests, routing key = method
 *   <p>rpc/<method>[/<grp>] auto-delete queue shared by the servers of a group
 *
 * What differs by broker version (BrokerFeatures, read from every connection):
 * on RabbitMQ 4.0+ quorum queues are declared with x-delivery-limit -1, so the
 * broker's default limit (20) never drops a message before core's
 * retry.maxRedeliveries dead-letters it, and RPC queues are durable (transient
 * non-exclusive queues are deprecated in 4.x and refused from 4.3).
 *
 * On a cluster (several hosts, docs/clusters.md) quorum queues get
 * x-quorum-initial-group-size (settings.quorumGroupSize), and RPC queues are quorum
 * queues with x-expires instead of auto-delete ones: a classic queue lives on one
 * node, and the servers on the other nodes could not answer while that node is down.
 */
import { createHash } from "node:crypto"
import type { Channel, ChannelModel, Options } from "amqplib"
import { AdapterHeaders } from "@omnibus/core/adapter"
import type { GroupSpec } from "@omnibus/core/adapter"
import { brokerError, brokerFeatures, closeQuietly, LEGACY_FEATURES } from "./connection.ts"
import type { BrokerFeatures, ConnectionHook, ConnectionManager } from "./connection.ts"
import type { QueueType, RabbitSettings } from "./options.ts"

/** Header of a message in a delay queue: when it is due (epoch ms). Adapter bookkeeping, stripped on the way in. */
export const RETRY_DUE = AdapterHeaders.rabbitmq.retryDue

/**
 * 4.x RPC queues are durable, so a broker restart keeps one whose servers never
 * come back (auto-delete acts only when a consumer leaves): unused this long, it goes.
 */
export const RPC_QUEUE_EXPIRES_MS = 60_000

/** Arguments the adapter adds to a quorum queue when it can, and leaves off a queue that exists without them. */
type OptionalArg = "x-delivery-limit" | "x-quorum-initial-group-size"
const OPTIONAL_ARGS: ReadonlyArray<OptionalArg> = ["x-delivery-limit", "x-quorum-initial-group-size"]

/** The optional argument a redeclare's refusal names ("inequivalent arg 'x-...'"), if any. */
const mismatchedArg = (e: unknown): OptionalArg | undefined => {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 3; c = (c as { cause?: unknown }).cause, depth++) {
    const m = /inequivalent arg '([^']+)'/.exec(c instanceof Error ? c.message : String(c))
    const arg = OPTIONAL_ARGS.find((a) => a === m?.[1])
    if (arg !== undefined) return arg
  }
  return undefined
}

export class Topology {
  readonly settings: RabbitSettings
  /** Of the current connection (the Declarer sets it first on every connect). */
  features: BrokerFeatures = LEGACY_FEATURES
  /**
   * Runs a declare on a channel of its own (the Declarer's), where a refusal closes
   * that channel and not the caller's. Undefined: no probe, legacy declarations.
   */
  sideDeclare: ((fn: (ch: Channel) => Promise<unknown>) => Promise<void>) | undefined
  /**
   * Quorum queues that exist without one of the optional arguments (x-delivery-limit:
   * declared before the broker became 4.x, the broker's default limit applies to them;
   * x-quorum-initial-group-size: declared before the adapter was pointed at a cluster, or
   * with another size): redeclared without it.
   */
  private readonly refused = new Map<string, Set<OptionalArg>>()

  constructor(settings: RabbitSettings) {
    this.settings = settings
  }

  groupQueue(group: string): string {
    return `${this.settings.queuePrefix}${group}`
  }
  deadLetterQueue(group: string): string {
    return `${this.settings.queuePrefix}${group}/dlq`
  }
  delayQueue(group: string): string {
    return `${this.settings.queuePrefix}${group}/delay`
  }
  /**
   * The marker queue counting one message's runs alone in a handler (packages/core/src/isolation.ts):
   * AMQP has no key-value store, so the count is the number of markers in a queue named after the
   * message and its attempt. Made only for redelivered messages, deleted when they settle.
   */
  soloQueue(group: string, id: string, attempt: number): string {
    return `${this.settings.queuePrefix}${group}/solo/${createHash("sha256").update(`${attempt}:${id}`).digest("base64url").slice(0, 32)}`
  }
  rpcQueue(method: string, group: string): string {
    return group === method ? `${this.settings.queuePrefix}rpc/${method}` : `${this.settings.queuePrefix}rpc/${method}/${group}`
  }

  async declareExchanges(ch: Channel): Promise<void> {
    await ch.assertExchange(this.settings.exchange, "topic", { durable: true })
    await ch.assertExchange(this.settings.rpcExchange, "direct", { durable: true })
  }

  private queueOptions(queue: string, ephemeral: boolean): Options.AssertQueue {
    // Ephemeral (broadcast) queues are exclusive: the broker deletes them with
    // the connection, so even a crashed process leaves nothing behind.
    if (ephemeral) return { durable: false, exclusive: true, autoDelete: false }
    if (this.settings.queueType !== "quorum") return { durable: true }
    return { durable: true, arguments: { "x-queue-type": "quorum" satisfies QueueType, ...this.optionalArgs(queue) } }
  }

  /** The optional arguments a quorum queue gets: those that apply and that it has not refused. */
  private optionalArgs(queue: string): Record<string, number> {
    const refused = this.refused.get(queue)
    const args: Record<string, number> = {}
    if (this.features.quorumDefaultDeliveryLimit && !refused?.has("x-delivery-limit")) args["x-delivery-limit"] = -1
    const size = this.settings.quorumGroupSize
    if (size !== undefined && !refused?.has("x-quorum-initial-group-size")) args["x-quorum-initial-group-size"] = size
    return args
  }

  /**
   * Tries the declaration with the optional arguments on a side channel first: a quorum
   * queue that exists without one of them (or with another value) refuses it (406 closes
   * the channel, naming one argument), and is then redeclared without it on the caller's channel.
   */
  private async probeOptionalArgs(queue: string): Promise<void> {
    if (this.sideDeclare === undefined) return
    for (let i = 0; i < OPTIONAL_ARGS.length && Object.keys(this.optionalArgs(queue)).length > 0; i++) {
      try {
        await this.sideDeclare((c) => c.assertQueue(queue, this.queueOptions(queue, false)))
        return
      } catch (e) {
        // Any other refusal (another queue type, say) is the caller's declare to report.
        const arg = mismatchedArg(e)
        if (arg === undefined) return
        this.refused.set(queue, new Set([...(this.refused.get(queue) ?? []), arg]))
      }
    }
  }

  /** The group queue with its pattern bindings, and its delay queue (same type). Idempotent. */
  async declareGroup(ch: Channel, spec: GroupSpec): Promise<string> {
    const queue = this.groupQueue(spec.group)
    const delay = this.delayQueue(spec.group)
    // one after the other: a refusal closes the side channel under a concurrent probe
    if (!spec.ephemeral && this.settings.queueType === "quorum") for (const q of [queue, delay]) await this.probeOptionalArgs(q)
    await ch.assertQueue(queue, this.queueOptions(queue, spec.ephemeral))
    for (const pattern of spec.patterns) await ch.bindQueue(queue, this.settings.exchange, pattern)
    await ch.assertQueue(delay, this.queueOptions(delay, spec.ephemeral))
    return queue
  }

  /**
   * Always a classic queue, whatever the group's type: list() reads it with
   * unacked basic.get and closes the channel, and only classic queues put
   * those messages back synchronously and at their original positions
   * (quorum queues return them asynchronously, behind the others).
   */
  async declareDeadLetterQueue(ch: Channel, group: string, ephemeral: boolean): Promise<string> {
    const queue = this.deadLetterQueue(group)
    await ch.assertQueue(queue, ephemeral ? this.queueOptions(queue, true) : { durable: true })
    return queue
  }

  /**
   * RPC queues are auto-delete: when the last server of a group goes (even by
   * crash) the queue goes, so a mandatory request finds no route and comes back
   * as basic.return = NoResponders at once. Non-durable on 3.x; durable (with
   * x-expires for one a broker restart left without servers) on 4.x, where
   * transient non-exclusive queues are deprecated.
   */
  async declareRpcQueue(ch: Channel, method: string, group: string): Promise<string> {
    const queue = this.rpcQueue(method, group)
    await ch.assertQueue(queue, this.rpcQueueOptions())
    await ch.bindQueue(queue, this.settings.rpcExchange, method)
    return queue
  }

  /**
   * On a cluster with quorum queues: a quorum queue (replicated, so the servers on the live
   * nodes keep answering when one node dies), which cannot be auto-delete, nor deleted
   * "if unused" (RabbitMQ closes the connection: 540): x-expires removes it once no server
   * used it for RPC_QUEUE_EXPIRES_MS. Until then a request finds the queue and ends in
   * RequestTimeout where a single node says NoResponders at once.
   */
  get rpcQueueIsQuorum(): boolean {
    return this.settings.cluster && this.settings.queueType === "quorum"
  }

  private rpcQueueOptions(): Options.AssertQueue {
    if (this.rpcQueueIsQuorum) {
      const size = this.settings.quorumGroupSize
      return { durable: true, arguments: { "x-queue-type": "quorum", "x-expires": RPC_QUEUE_EXPIRES_MS, ...(size === undefined ? {} : { "x-quorum-initial-group-size": size }) } }
    }
    return this.features.transientQueuesDeprecated
      ? { durable: true, autoDelete: true, exclusive: false, arguments: { "x-expires": RPC_QUEUE_EXPIRES_MS } }
      : { durable: false, autoDelete: true, exclusive: false }
  }
}

/**
 * Declares exchanges on every (re)connect and, lazily, the dead-letter
 * queues that dead letters need, caching what was declared on the current
 * connection.
 */
export class Declarer implements ConnectionHook {
  readonly order = 10
  readonly topology: Topology
  private readonly manager: ConnectionManager
  private dlqs = new Map<string, Promise<void>>()
  /** A long-lived channel for lazy declares: one round trip each, on the retry path. */
  private admin: Promise<Channel> | undefined
  private model: ChannelModel | undefined

  constructor(topology: Topology, manager: ConnectionManager) {
    this.topology = topology
    this.manager = manager
    topology.sideDeclare = (fn) => this.declare("declare group", fn)
  }

  async connected(model: ChannelModel): Promise<void> {
    this.forget()
    this.model = model
    // First hook of every connect: what later hooks declare follows this broker's version.
    this.topology.features = brokerFeatures(model)
    const ch = await model.createChannel()
    ch.on("error", () => {})
    try {
      await this.topology.declareExchanges(ch)
    } finally {
      await closeQuietly(ch)
    }
  }

  disconnected(): void {
    this.forget()
    this.model = undefined
  }

  private forget(): void {
    this.dlqs.clear()
    this.admin = undefined
  }

  private async declare(operation: string, fn: (ch: Channel) => Promise<unknown>): Promise<void> {
    const model = this.model ?? (await this.manager.ready(operation))
    if (!this.admin) {
      const opening = model.createChannel().then((ch) => {
        ch.on("error", () => {})
        // A refusal closes the channel: the next declare opens another.
        ch.on("close", () => { if (this.admin === opening) this.admin = undefined })
        return ch
      })
      this.admin = opening
      opening.catch(() => { if (this.admin === opening) this.admin = undefined })
    }
    try {
      await fn(await this.admin)
    } catch (e) {
      throw brokerError(operation, e)
    }
  }

  async deadLetterQueue(group: string, ephemeral: boolean): Promise<string> {
    const name = this.topology.deadLetterQueue(group)
    let done = this.dlqs.get(name)
    if (done === undefined) {
      // On a channel of its own, not the shared one of the group declares: a dead-letter queue is classic, and
      // while its node is down its declare holds the channel until the broker gives up (about a minute), which
      // stalled every subscribe (and a reconnect re-subscribing) behind it.
      const d = this.manager.withChannel("declare dead-letter queue", (ch) => this.topology.declareDeadLetterQueue(ch, group, ephemeral)).then(() => undefined)
      done = d
      this.dlqs.set(name, d)
      d.catch(() => { if (this.dlqs.get(name) === d) this.dlqs.delete(name) })
    }
    await done
    return name
  }

  forgetDeadLetterQueue(group: string): void {
    this.dlqs.delete(this.topology.deadLetterQueue(group))
  }
}
