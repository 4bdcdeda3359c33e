/**
 * Delayed retries, timed by the client. A retry waits in its group's delay
 * queue `<p><group>/delay`, published with confirms and the header
 * omnibus-retry-due (epoch ms). Every consumer of the group also consumes that
 * queue: it holds each message unacked until it is due, republishes it
 * (confirmed) to the group queue and only then acks it. Every hop is a
 * confirmed publish followed by an ack, so a crash or a broker kill can repeat
 * a move but never lose one.
 *
 * Why not a TTL queue that dead-letters into the group queue: RabbitMQ
 * dead-letters out of classic queues at most once and without confirms, so a
 * retry that expired a few milliseconds before a broker kill -9 was lost (fault
 * suite, case 34); the at-least-once strategy of quorum queues stalled after a
 * kill -9 on RabbitMQ 3.10.
 */
import type { Channel, ConsumeMessage } from "amqplib"
import { Wire } from "@omnibus/core/adapter"
import { republishOptions } from "./mapping.ts"
import type { Publisher } from "./publisher.ts"
import { RETRY_DUE } from "./topology.ts"

/**
 * Delayed retries one consumer holds at a time (basic.qos of its delay
 * consumer). Bounds memory; retries beyond it wait in the queue, behind them.
 */
export const DELAY_PREFETCH = 1_000

/**
 * Longest a message is held unacked. Below RabbitMQ's consumer_timeout (30 min
 * by default, which closes a channel holding a delivery longer), and short
 * enough that retries queued behind DELAY_PREFETCH long ones are not stuck for
 * long: a message due later goes back to the tail of the delay queue.
 */
export const MAX_HOLD_MS = 60_000

export class DelayedRetries {
  private readonly publisher: Publisher
  private readonly groupQueue: string
  private readonly delayQueue: string
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly moving = new Set<Promise<void>>()

  constructor(publisher: Publisher, groupQueue: string, delayQueue: string) {
    this.publisher = publisher
    this.groupQueue = groupQueue
    this.delayQueue = delayQueue
  }

  /** Holds a delivery of the delay queue until it is due; `live` says whether `ch` can still settle it. */
  hold(ch: Channel, msg: ConsumeMessage, live: () => boolean): void {
    const due = Number(msg.properties.headers?.[RETRY_DUE])
    const wait = Number.isFinite(due) ? due - Date.now() : 0
    const fire = (): void => {
      if (!live()) return // the channel is gone: the broker has put the message back
      const notYet = Number.isFinite(due) && due - Date.now() > 1 // held for MAX_HOLD_MS only
      const move = this.move(ch, msg, notYet, live)
      this.moving.add(move)
      void move.finally(() => this.moving.delete(move))
    }
    if (wait <= 0) return fire()
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fire()
    }, Math.min(wait, MAX_HOLD_MS))
    this.timers.add(timer)
  }

  /** To the group queue when due; back to the tail of the delay queue when `notYet`. */
  private async move(ch: Channel, msg: ConsumeMessage, notYet: boolean, live: () => boolean): Promise<void> {
    const target = notYet ? this.delayQueue : this.groupQueue
    const options = republishOptions(msg, notYet)
    const key = msg.properties.headers?.[Wire.routingKey]
    const [outcome] = await this.publisher.send([{ exchange: "", routingKey: target, content: msg.content, options, key: typeof key === "string" ? key : target }])
    if (!live()) return // not settled here: the broker redelivers it (a duplicate move at worst)
    try {
      if (outcome?.ok) ch.ack(msg)
      else ch.nack(msg, false, true)
    } catch { /* channel closed: the broker puts it back */ }
  }

  /** Stops the timers: what is held goes back to the queue with its channel. */
  clear(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /** Stops the timers and waits for moves already under way (their confirms). */
  async drain(): Promise<void> {
    this.clear()
    await Promise.allSettled([...this.moving])
  }
}
