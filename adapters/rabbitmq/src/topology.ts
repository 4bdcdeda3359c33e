/**
 * Names and declarations of every broker object the adapter uses. Queue names
 * put a "/" (never valid in a routing-key word) between a group and a suffix,
 * so no group name can collide with another group's dead-letter queue.
 *
 *   events (topic)          <- publishers; group queues bound with their patterns
 *   <p><group>              group queue (classic or quorum), competing consumers
 *   <p>retry (headers)      <- delay queues dead-letter here; each group queue is
 *                             bound with omnibus-retry-to=<its name>, so a retry
 *                             returns to THIS group only
 *   <p>retry/<ms>           shared delay queue: x-message-ttl=<ms>, DLX <p>retry
 *   <p><group>/dlq          dead letters of the group
 *   <p>rpc (direct)         <- requests, routing key = method
 *   <p>rpc/<method>[/<grp>] auto-delete queue shared by the servers of a group
 */
import type { Channel, ChannelModel, Options } from "amqplib"
import type { GroupSpec } from "@omnibus/core"
import { brokerError } from "./connection.ts"
import type { ConnectionHook, ConnectionManager } from "./connection.ts"
import type { QueueType, RabbitSettings } from "./options.ts"

/**
 * Header carrying the target queue of a delayed retry (stripped on delivery).
 * Not "x-" prefixed on purpose: headers exchanges ignore x- headers when
 * matching with x-match=all, which would send every retry to every group.
 */
export const RETRY_TO = "omnibus-retry-to"

/** How long an unused delay queue outlives its TTL before the broker removes it. */
const DELAY_QUEUE_GRACE_MS = 300_000

export class Topology {
  readonly settings: RabbitSettings
  constructor(settings: RabbitSettings) {
    this.settings = settings
  }

  groupQueue(group: string): string {
    return `${this.settings.queuePrefix}${group}`
  }
  deadLetterQueue(group: string): string {
    return `${this.settings.queuePrefix}${group}/dlq`
  }
  delayQueue(bucketMs: number): string {
    return `${this.settings.queuePrefix}retry/${bucketMs}`
  }
  rpcQueue(method: string, group: string): string {
    return group === method ? `${this.settings.queuePrefix}rpc/${method}` : `${this.settings.queuePrefix}rpc/${method}/${group}`
  }

  async declareExchanges(ch: Channel): Promise<void> {
    await ch.assertExchange(this.settings.exchange, "topic", { durable: true })
    await ch.assertExchange(this.settings.rpcExchange, "direct", { durable: true })
    await ch.assertExchange(this.settings.retryExchange, "headers", { durable: true })
  }

  private queueOptions(ephemeral: boolean): Options.AssertQueue {
    // Ephemeral (broadcast) queues are exclusive: the broker deletes them with
    // the connection, so even a crashed process leaves nothing behind.
    if (ephemeral) return { durable: false, exclusive: true, autoDelete: false }
    return this.settings.queueType === "quorum" ? { durable: true, arguments: { "x-queue-type": "quorum" satisfies QueueType } } : { durable: true }
  }

  /** The group queue, its pattern bindings and its retry binding. Idempotent. */
  async declareGroup(ch: Channel, spec: GroupSpec): Promise<string> {
    const queue = this.groupQueue(spec.group)
    await ch.assertQueue(queue, this.queueOptions(spec.ephemeral))
    for (const pattern of spec.patterns) await ch.bindQueue(queue, this.settings.exchange, pattern)
    await ch.bindQueue(queue, this.settings.retryExchange, "", { "x-match": "all", [RETRY_TO]: queue })
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
    await ch.assertQueue(queue, ephemeral ? this.queueOptions(true) : { durable: true })
    return queue
  }

  async declareDelayQueue(ch: Channel, bucketMs: number): Promise<string> {
    const queue = this.delayQueue(bucketMs)
    await ch.assertQueue(queue, {
      durable: true,
      arguments: { "x-message-ttl": bucketMs, "x-dead-letter-exchange": this.settings.retryExchange, "x-expires": bucketMs + DELAY_QUEUE_GRACE_MS },
    })
    return queue
  }

  /**
   * RPC queues are non-durable and auto-delete: when the last server of a
   * group goes (even by crash) the queue goes, so a mandatory request finds
   * no route and comes back as basic.return = NoResponders at once.
   */
  async declareRpcQueue(ch: Channel, method: string, group: string): Promise<string> {
    const queue = this.rpcQueue(method, group)
    await ch.assertQueue(queue, { durable: false, autoDelete: true, exclusive: false })
    await ch.bindQueue(queue, this.settings.rpcExchange, method)
    return queue
  }
}

/**
 * Delay queues are shared per delay, so delays are rounded UP to a bucket:
 * the error stays under 25 ms below 1 s, 50 ms below 10 s, 100 ms below a
 * minute, 1 s below 10 minutes and 10 s beyond.
 */
export const delayBucket = (delayMs: number): number => {
  const d = Math.max(1, Math.ceil(delayMs))
  const step = d < 1_000 ? 25 : d < 10_000 ? 50 : d < 60_000 ? 100 : d < 600_000 ? 1_000 : 10_000
  return Math.ceil(d / step) * step
}

/** Re-declare a delay queue at least this often, well inside its x-expires grace. */
const DELAY_REDECLARE_MS = 60_000

/**
 * Declares exchanges on every (re)connect and, lazily, the delay and
 * dead-letter queues that retries and dead letters need, caching what was
 * declared on the current connection.
 */
export class Declarer implements ConnectionHook {
  readonly order = 10
  readonly topology: Topology
  private readonly manager: ConnectionManager
  /** Delay bucket -> declare in progress or done, and when it started. */
  private delays = new Map<number, { at: number; done: Promise<void> }>()
  private dlqs = new Map<string, Promise<void>>()
  /** A long-lived channel for lazy declares: one round trip each, on the retry path. */
  private admin: Promise<Channel> | undefined
  private model: ChannelModel | undefined

  constructor(topology: Topology, manager: ConnectionManager) {
    this.topology = topology
    this.manager = manager
  }

  async connected(model: ChannelModel): Promise<void> {
    this.forget()
    this.model = model
    const ch = await model.createChannel()
    ch.on("error", () => {})
    try {
      await this.topology.declareExchanges(ch)
    } finally {
      await ch.close().catch(() => {})
    }
  }

  disconnected(): void {
    this.forget()
    this.model = undefined
  }

  private forget(): void {
    this.delays.clear()
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

  /** The delay queue for `bucketMs`; declared once per connection, refreshed in the background. */
  async delayQueue(bucketMs: number): Promise<string> {
    const entry = this.delays.get(bucketMs)
    if (entry === undefined) {
      // Shared by concurrent callers, so retries keep their call order.
      const done = this.declare("declare retry queue", (ch) => this.topology.declareDelayQueue(ch, bucketMs))
      const e = { at: Date.now(), done }
      this.delays.set(bucketMs, e)
      done.catch(() => { if (this.delays.get(bucketMs) === e) this.delays.delete(bucketMs) })
      await done
    } else if (Date.now() - entry.at > DELAY_REDECLARE_MS) {
      // The queue still exists (x-expires is 5 min past its TTL): refresh its expiry off the hot path.
      const e = { at: Date.now(), done: entry.done }
      this.delays.set(bucketMs, e)
      this.declare("declare retry queue", (ch) => this.topology.declareDelayQueue(ch, bucketMs)).catch(() => {
        if (this.delays.get(bucketMs) === e) this.delays.delete(bucketMs)
      })
    } else {
      await entry.done
    }
    return this.topology.delayQueue(bucketMs)
  }

  async deadLetterQueue(group: string, ephemeral: boolean): Promise<string> {
    const name = this.topology.deadLetterQueue(group)
    let done = this.dlqs.get(name)
    if (done === undefined) {
      const d = this.declare("declare dead-letter queue", (ch) => this.topology.declareDeadLetterQueue(ch, group, ephemeral))
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
