/**
 * A group consumer: one channel with basic.qos = prefetch on the group queue.
 * Attempt = the x-omnibus-attempt header (1 if absent; each retry republishes
 * with attempt + 1). Redeliveries: quorum queues count them (x-delivery-count);
 * classic queues only flag a redelivery (0 or 1), so retry.maxRedeliveries
 * cannot stop a message that crashes its consumer every time there: use quorum.
 * Retries are republished (confirmed) with attempt + 1, then the original is
 * acked: straight to the group queue, or with a delay to the group's delay
 * queue, which this consumer also consumes on the same channel and moves to
 * the group queue when due (delay.ts).
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib"
import { DeliveryLost, untilAborted, Wire } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, Delivery, FailureMetadata, GroupSpec } from "@omnibus/core/adapter"
import { brokerError, closeQuietly, replyCode, sleep } from "./connection.ts"
import type { ConnectionHook, ConnectionManager } from "./connection.ts"
import { failureToHeaders } from "@omnibus/core/adapter"
import { attemptHeader, bodyOf, envelopeOf, firstFailureOf, fitHeaderTable, publishOptions, wireHeadersOf } from "./mapping.ts"
import type { Publisher } from "./publisher.ts"
import { DELAY_PREFETCH, DelayedRetries } from "./delay.ts"
import { RETRY_DUE } from "./topology.ts"
import type { Declarer } from "./topology.ts"

export interface ConsumerDeps {
  readonly manager: ConnectionManager
  readonly declarer: Declarer
  readonly publisher: Publisher
}

/**
 * Redeliveries of this copy (crash, channel loss, requeue): quorum queues count them
 * (x-delivery-count); classic queues only flag a redelivery, so there it is 0 or 1.
 */
const redeliveries = (msg: ConsumeMessage): number => {
  const count = msg.properties.headers?.["x-delivery-count"]
  if (typeof count === "number") return count
  return msg.fields.redelivered ? 1 : 0
}

/** A marker queue outlives its message only if a crash came between settling and deleting it. */
const SOLO_TTL_MS = 7 * 24 * 3_600_000

const isConnectionLoss = (e: unknown): boolean => {
  const code = replyCode(e)
  return code === undefined || code === 320 || code >= 500
}

export class GroupConsumer implements ConnectionHook, Consumption {
  readonly order = 20
  private readonly deps: ConsumerDeps
  private readonly spec: ConsumeSpec
  private readonly onDelivery: (delivery: Delivery) => void
  private readonly queue: string
  private readonly delayQueue: string
  private readonly delayed: DelayedRetries
  private model: ChannelModel | undefined
  private ch: Channel | undefined
  private consumerTags: Array<string> = []
  /** Aborted by stop(): what a delivery still waits for on the broker before it runs or settles. */
  private readonly stopping = new AbortController()
  private closed = false

  constructor(deps: ConsumerDeps, spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void) {
    this.deps = deps
    this.spec = spec
    this.onDelivery = onDelivery
    this.queue = deps.declarer.topology.groupQueue(spec.group)
    this.delayQueue = deps.declarer.topology.delayQueue(spec.group)
    this.delayed = new DelayedRetries(deps.publisher, this.queue, this.delayQueue)
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted
  }

  /** Declares and starts consuming; a broker refusal rejects, a lost connection resumes on reconnect. */
  async start(): Promise<void> {
    const model = await this.deps.manager.ready("subscribe")
    this.deps.manager.addHook(this)
    try {
      await this.connected(model)
    } catch (e) {
      if (!isConnectionLoss(e)) {
        this.deps.manager.removeHook(this)
        this.closed = true
        throw brokerError(`subscribe ${this.spec.group}`, e)
      }
    }
  }

  async connected(model: ChannelModel): Promise<void> {
    if (this.stopped || this.closed) return
    this.model = model
    const ch = await model.createChannel()
    ch.on("error", () => {})
    ch.on("close", () => {
      if (this.ch !== ch) return
      this.ch = undefined
      this.consumerTags = []
      this.delayed.clear() // the broker has put what was held back
      // Only this channel died (e.g. the queue was deleted): start over on the same connection.
      this.deps.manager.reopenLater(model, () => !this.stopped && !this.closed && this.model === model && this.ch === undefined, () => this.connected(model))
    })
    try {
      await this.deps.declarer.topology.declareGroup(ch, this.spec)
      await ch.prefetch(this.spec.prefetch)
      if (this.model !== model || this.stopped || this.closed) {
        await closeQuietly(ch)
        return
      }
      this.ch = ch
      const ok = await ch.consume(this.queue, (msg) => {
        if (msg === null) {
          // Consumer cancelled by the broker (queue deleted): reopen.
          void closeQuietly(ch)
          return
        }
        this.deliver(ch, msg)
      }, { noAck: false })
      // basic.qos (not global) applies to the consumers started after it: the delay
      // consumer holds more than the handlers' prefetch, and never blocks them.
      await ch.prefetch(DELAY_PREFETCH)
      const delayOk = await ch.consume(this.delayQueue, (msg) => {
        if (msg === null) {
          void closeQuietly(ch)
          return
        }
        this.delayed.hold(ch, msg, () => this.ch === ch)
      }, { noAck: false })
      if (this.ch !== ch) {
        // Superseded while basic.consume was in flight (the connection dropped and
        // another connected() took over): this consumer must not linger here.
        await closeQuietly(ch)
        return
      }
      this.consumerTags = [ok.consumerTag, delayOk.consumerTag]
    } catch (e) {
      if (this.ch === ch) this.ch = undefined
      await closeQuietly(ch)
      throw e
    }
  }

  disconnected(): void {
    this.model = undefined
    this.ch = undefined
    this.consumerTags = []
    this.delayed.clear()
  }

  private deliver(ch: Channel, msg: ConsumeMessage): void {
    const wire = wireHeadersOf(msg)
    const envelope = envelopeOf(msg, wire, this.deps.manager.settings.foreignIds)
    const attempt = attemptHeader(wire)
    let settled = false
    // The delivery belongs to its channel: once that channel is gone the broker
    // has already put the message back, so settling becomes a no-op.
    const live = (): boolean => !settled && this.ch === ch
    const { publisher, declarer, manager } = this.deps
    let soloQueue: string | undefined
    const forgetSolo = (): void => {
      const q = soloQueue
      soloQueue = undefined
      if (q !== undefined) manager.withChannel("delete solo marker queue", (c) => c.deleteQueue(q)).catch(() => {})
    }
    const ack = (): void => {
      settled = true
      try { ch.ack(msg) } catch { /* channel closed: the broker redelivers */ }
      forgetSolo()
    }
    // Counts a run alone in the message's marker queue (Topology.soloQueue): only where the id is the
    // same on every delivery; a foreign message with a fresh id per delivery keeps the broker's count.
    const stableId = wire[Wire.id] !== undefined || manager.settings.foreignIds === "content"
    const beginSolo = async (): Promise<number> => {
      const q = declarer.topology.soloQueue(this.spec.group, envelope.id, attempt)
      // The marker queue is classic: with its node down the count waits about a minute; a stopping
      // consumer gives the message back unrun instead (core releases a DeliveryLost), so close() need not wait.
      const count = manager.withChannel("count solo runs", async (c) =>
        (await c.assertQueue(q, { durable: true, arguments: { "x-queue-type": "classic", "x-expires": SOLO_TTL_MS } })).messageCount)
      const before = await untilAborted(count, this.stopping.signal, () => new DeliveryLost(`the consumer of ${this.spec.group} stopped before the solo run of ${envelope.id} was counted`))
      const [outcome] = await publisher.send([{ exchange: "", routingKey: q, content: Buffer.alloc(0), options: { persistent: true }, key: envelope.routingKey }])
      if (!outcome?.ok) throw outcome?.error ?? new Error("solo marker publish failed")
      soloQueue = q
      return before
    }
    const delivery: Delivery = {
      envelope,
      attempt,
      redeliveries: redeliveries(msg),
      firstFailureAt: firstFailureOf(wire),
      ...(stableId ? { beginSolo } : {}),
      ack: async () => {
        if (live()) ack()
      },
      release: async () => {
        if (!live()) return
        settled = true
        try { ch.nack(msg, false, true) } catch { /* closed: requeued anyway */ }
        forgetSolo()
      },
      retry: async ({ delayMs, firstFailureAt }) => {
        if (!live()) return
        const extra: Record<string, string> = { [Wire.attempt]: String(attempt + 1), [Wire.firstFailure]: String(firstFailureAt) }
        let routingKey = this.queue
        if (delayMs > 0) {
          routingKey = this.delayQueue
          extra[RETRY_DUE] = String(Date.now() + delayMs)
        }
        const [outcome] = await publisher.send([{ exchange: "", routingKey, content: bodyOf(envelope), options: fitHeaderTable(publishOptions(envelope, extra)), key: envelope.routingKey }])
        if (!outcome?.ok) {
          if (live()) { settled = true; try { ch.nack(msg, false, true) } catch { /* closed */ } }
          throw outcome?.error ?? new Error("retry publish failed")
        }
        if (live()) ack()
      },
      deadLetter: async (failure: FailureMetadata) => {
        if (!live()) return
        // The dead-letter queue is classic (one node): while its node is down the declare times out and
        // the publish is nacked. Given back at once, the message came back at once, in a loop, each round
        // a redelivery towards the poison limit; it is held and dead-lettered again with backoff instead,
        // until publishTimeoutMs (as a publish waits for its confirm) or the consumer stops, and only then given back.
        const deadline = Date.now() + manager.settings.publishTimeoutMs
        for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
          let error: unknown
          try {
            // its declare is what waits for a down node; nothing is published yet, so a stop may cut it short
            const dlq = await untilAborted(declarer.deadLetterQueue(this.spec.group, this.spec.ephemeral), this.stopping.signal, () => new Error("the consumer stopped while the dead-letter queue was being declared"))
            const [outcome] = await publisher.send([{ exchange: "", routingKey: dlq, content: bodyOf(envelope), options: fitHeaderTable(publishOptions(envelope, failureToHeaders(failure))), key: envelope.routingKey }])
            if (outcome?.ok) break
            error = outcome?.error ?? new Error("dead-letter publish failed")
          } catch (e) {
            error = e
          }
          // a stopping consumer gives it back at once: its close must not wait for the node
          if (!live() || this.stopped || Date.now() + wait >= deadline) {
            if (live()) { settled = true; try { ch.nack(msg, false, true) } catch { /* closed */ } }
            throw error
          }
          await sleep(wait, this.stopping.signal)
        }
        if (live()) ack()
      },
    }
    this.onDelivery(delivery)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopping.abort()
    const ch = this.ch
    const tags = this.consumerTags
    // Held retries are not moved any more: they go back to the delay queue with the channel.
    this.delayed.clear()
    if (ch) for (const tag of tags) await ch.cancel(tag).catch(() => {})
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.stop()
    this.closed = true
    this.deps.manager.removeHook(this)
    await this.delayed.drain()
    const ch = this.ch
    this.ch = undefined
    if (this.spec.ephemeral && this.deps.manager.current()) {
      // Exclusive queues vanish with the connection anyway; delete them now so nothing outlives the subscription.
      const { topology } = this.deps.declarer
      await this.deps.manager.withChannel("delete ephemeral queues", async (c) => {
        await c.deleteQueue(this.queue)
        await c.deleteQueue(this.delayQueue)
        await c.deleteQueue(topology.deadLetterQueue(this.spec.group))
      }).catch(() => {})
      this.deps.declarer.forgetDeadLetterQueue(this.spec.group)
    }
    if (ch) await closeQuietly(ch)
  }
}

/** declareGroup: the group's queue and bindings, no consumer. */
export const declareGroup = (deps: ConsumerDeps, spec: GroupSpec): Promise<void> =>
  deps.manager.withChannel(`declare group ${spec.group}`, async (ch) => {
    await deps.declarer.topology.declareGroup(ch, spec)
  })
