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
 */
import { createHash } from "node:crypto"
import type { Channel, ChannelModel, Options } from "amqplib"
import { AdapterHeaders } from "@omnibus/core/adapter"
import type { GroupSpec } from "@omnibus/core/adapter"
import { brokerError } from "./connection.ts"
import type { ConnectionHook, ConnectionManager } from "./connection.ts"
import type { QueueType, RabbitSettings } from "./options.ts"

/** Header of a message in a delay queue: when it is due (epoch ms). Adapter bookkeeping, stripped on the way in. */
export const RETRY_DUE = AdapterHeaders.rabbitmq.retryDue

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

  private queueOptions(ephemeral: boolean): Options.AssertQueue {
    // Ephemeral (broadcast) queues are exclusive: the broker deletes them with
    // the connection, so even a crashed process leaves nothing behind.
    if (ephemeral) return { durable: false, exclusive: true, autoDelete: false }
    return this.settings.queueType === "quorum" ? { durable: true, arguments: { "x-queue-type": "quorum" satisfies QueueType } } : { durable: true }
  }

  /** The group queue with its pattern bindings, and its delay queue (same type). Idempotent. */
  async declareGroup(ch: Channel, spec: GroupSpec): Promise<string> {
    const queue = this.groupQueue(spec.group)
    await ch.assertQueue(queue, this.queueOptions(spec.ephemeral))
    for (const pattern of spec.patterns) await ch.bindQueue(queue, this.settings.exchange, pattern)
    await ch.assertQueue(this.delayQueue(spec.group), this.queueOptions(spec.ephemeral))
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
