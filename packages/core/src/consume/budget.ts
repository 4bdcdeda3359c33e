/**
 * Budget stage: a delivery that has used up its budget is dead-lettered
 * without running. Attempts count handler failures; crashes have their own
 * budget, and only crashes while the message ran alone count
 * (../isolation.ts): a crash also sends back its bystanders.
 */
import { soloBudget } from "../isolation.ts"
import type { Logger } from "../logger.ts"
import { describeError } from "../errors.ts"
import type { RetryPolicy } from "../retry.ts"
import { DeliveryLost, type Delivery } from "../transport.ts"

/**
 * The dead-letter reason of a poison message: it ran alone in a handler `retry.maxRedeliveries`
 * times (at least once) and each of those runs ended without an outcome, i.e. its consumer keeps
 * crashing (or losing its lease) on it. See ../isolation.ts for why only solo runs count.
 */
export class RedeliveriesExhausted extends Error {
  /** The broker's count: deliveries of this attempt without an outcome, solo or not. */
  readonly redeliveries: number
  /** Runs alone in a handler that ended without an outcome. */
  readonly soloCrashes: number
  constructor(redeliveries: number, soloCrashes: number, max: number) {
    super(
      `crashed its consumer ${soloCrashes} times while running alone (delivered ${redeliveries + 1} times without an outcome); retry.maxRedeliveries is ${max}`,
    )
    this.name = "RedeliveriesExhausted"
    this.redeliveries = redeliveries
    this.soloCrashes = soloCrashes
  }
}

/** The dead-letter reason of a delivery whose attempt number is already past the policy (e.g. the policy was lowered). */
export class AttemptsExhausted extends Error {
  constructor(attempt: number, attempts: number) {
    super(`arrived at attempt ${attempt}, past the ${attempts} attempts of the retry policy`)
    this.name = "AttemptsExhausted"
  }
}

// How many earlier runs alone ended without an outcome: the adapter's durable count, or
// (adapter without one, or its store unreachable) the broker's, which charges bystanders too.
// DeliveryLost goes through to the caller: there is nothing to count for a delivery no longer ours.
const soloCrashes = async (delivery: Delivery, logger: Logger): Promise<number> => {
  if (delivery.beginSolo) {
    try {
      return await delivery.beginSolo()
    } catch (e) {
      if (e instanceof DeliveryLost) throw e
      logger.warn({ id: delivery.envelope.id, routingKey: delivery.envelope.routingKey, error: describeError(e).message }, "omnibus: recording a solo run failed; counting broker redeliveries instead")
    }
  }
  return delivery.redeliveries - 1
}

/**
 * Why this delivery must not run, if it must not; a suspect's solo run is counted here.
 * Rejects with DeliveryLost when the adapter says the delivery is no longer this consumer's.
 */
export const overBudget = async (delivery: Delivery, retry: RetryPolicy, logger: Logger): Promise<Error | undefined> => {
  if (delivery.redeliveries > 0) {
    const crashes = await soloCrashes(delivery, logger)
    if (crashes >= soloBudget(retry.maxRedeliveries)) return new RedeliveriesExhausted(delivery.redeliveries, crashes, retry.maxRedeliveries)
  }
  if (delivery.attempt > retry.attempts) return new AttemptsExhausted(delivery.attempt, retry.attempts)
  return undefined
}
