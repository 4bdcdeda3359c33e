/**
 * Settle stage: exactly one settlement per delivery (ack, retry, release,
 * dead-letter), each reported to `observe` only once the broker took it.
 */
import { describeError } from "../errors.ts"
import type { Logger } from "../logger.ts"
import type { Delivery, FailureMetadata } from "../transport.ts"
import type { HandlerEvent, HandlerEventType } from "./events.ts"

const settled = (): boolean => true
const ack = (d: Delivery): Promise<void> => d.ack()
const release = (d: Delivery): Promise<void> => d.release()

export class Settler {
  private readonly group: string
  private readonly deadLetters: boolean
  private readonly observers: ReadonlyArray<(event: HandlerEvent) => void>
  private readonly logger: Logger

  constructor(group: string, deadLetters: boolean, observers: ReadonlyArray<(event: HandlerEvent) => void>, logger: Logger) {
    this.group = group
    this.deadLetters = deadLetters
    this.observers = observers
    this.logger = logger
  }

  emit(delivery: Delivery, type: HandlerEventType, attempt: number, extra?: { error?: unknown; delayMs?: number }): void {
    if (this.observers.length === 0) return
    const event: HandlerEvent = { type, group: this.group, id: delivery.envelope.id, routingKey: delivery.envelope.routingKey, attempt, ...extra }
    for (const observe of this.observers) {
      try {
        observe(event)
      } catch (e) {
        // an observer is a spy: its bug must not stop the consumer
        this.logger.warn({ group: this.group, id: event.id, error: describeError(e).message }, "omnibus: observe threw")
      }
    }
  }

  /**
   * Settles a delivery; the outcome event is emitted only when the broker took it. A failed
   * settlement (connection lost) leaves the message unacked on the broker, which redelivers it:
   * that is logged, and no outcome is reported. A promise chain, not an async function, and
   * `how` takes the delivery rather than closing over it: every message passes here
   * (bench/FINDINGS.md, the consume path's allocations). Without observers, nothing waiting
   * for the broker holds the delivery (its payload), only the id and routing key to log.
   */
  settle(what: string, delivery: Delivery, how: (delivery: Delivery) => Promise<void>, type: HandlerEventType, attempt: number, extra?: { error?: unknown; delayMs?: number }): Promise<boolean> {
    let settling: Promise<void>
    try {
      settling = how(delivery)
    } catch (e) {
      settling = Promise.reject(e)
    }
    const env = delivery.envelope
    const failed = this.failed(what, env.id, env.routingKey)
    if (this.observers.length === 0) return settling.then(settled, failed)
    return settling.then(() => {
      this.emit(delivery, type, attempt, extra)
      return true
    }, failed)
  }

  /** What a failed settlement does: logged, the broker redelivers. Its own function, so it closes over two strings. */
  private failed(what: string, id: string, routingKey: string): (e: unknown) => boolean {
    return (e) => {
      this.logger.warn({ group: this.group, routingKey, id, error: describeError(e).message }, `omnibus: ${what} failed; the broker will redeliver`)
      return false
    }
  }

  ack(delivery: Delivery, attempt: number, type: "handled" | "duplicate" = "handled"): Promise<boolean> {
    return this.settle("ack", delivery, ack, type, attempt)
  }

  release(delivery: Delivery): Promise<boolean> {
    return this.settle("release", delivery, release, "released", delivery.attempt)
  }

  retry(delivery: Delivery, attempt: number, delayMs: number, firstFailureAt: number, error: unknown): Promise<boolean> {
    return this.settle("retry", delivery, (d) => d.retry({ delayMs, firstFailureAt }), "retry", attempt, { error, delayMs })
  }

  /** Dead-letters with failure metadata, or drops (acks) when the subscription has no dead letters. */
  deadLetter(delivery: Delivery, error: unknown, attempt: number, firstFailureAt: number): Promise<boolean> {
    const info = describeError(error)
    const failure: FailureMetadata = {
      error: info.message,
      errorName: info.name,
      errorCode: info.code,
      attempts: attempt,
      firstFailureAt,
      lastFailureAt: Date.now(),
      group: this.group,
    }
    return this.deadLetters
      ? this.settle("dead-letter", delivery, (d) => d.deadLetter(failure), "dead-letter", attempt, { error })
      : this.settle("ack", delivery, ack, "dropped", attempt, { error })
  }
}
