/**
 * One delivery through the consume pipeline, in order:
 *   budget (./budget.ts) → decode (./decode.ts) → idempotency claim (./claim.ts)
 *   → handle: middleware around the user's handler (../middleware.ts)
 *   → settle (./settle.ts): ack, retry through the broker, retry in place
 *     (ordered subscriptions keep per-key order), or dead-letter.
 * Plain async, not an Effect program: this runs once per message and a fiber
 * per delivery cost more than the rest of the engine together (bench/FINDINGS.md).
 */
import type { Message } from "../api.ts"
import type { Codec } from "../codec.ts"
import { isPermanent } from "../errors.ts"
import { idempotencyKey } from "../idempotency.ts"
import type { Logger } from "../logger.ts"
import { toMessage } from "../message.ts"
import { compose, failed, handled, type HandleContext, type HandleOutcome, type Middleware } from "../middleware.ts"
import type { RetryPolicy } from "../retry.ts"
import { DeliveryLost, type Delivery } from "../transport.ts"
import { overBudget } from "./budget.ts"
import { claim, quietly, type IdempotencyConfig } from "./claim.ts"
import { decode } from "./decode.ts"
import type { Settler } from "./settle.ts"

export interface PipelineConfig {
  readonly system: string
  readonly group: string
  readonly ordered: boolean
  readonly retry: RetryPolicy
  readonly idempotency: IdempotencyConfig | undefined
  readonly codec: Codec<unknown> | undefined
  /** The user's handler as a Promise (Effect handlers are run by the bus); a rejection is a failure. */
  readonly handler: (message: Message<unknown>) => Promise<unknown>
  /** Handle hooks, bus middleware first. */
  readonly middleware: ReadonlyArray<NonNullable<Middleware["handle"]>>
  readonly maxPayloadBytes: number
  readonly settler: Settler
  readonly logger: Logger
  /** True once the subscription is closing: an in-place retry gives the message back instead. */
  readonly closing: () => boolean
}

/** Runs the handler inside the middleware; what it came to as an outcome. */
const runHandler = (config: PipelineConfig, message: Message<unknown>): Promise<HandleOutcome> => {
  const core = async (): Promise<HandleOutcome> => {
    try {
      await config.handler(message)
      return handled
    } catch (e) {
      return failed(e)
    }
  }
  const ctx: HandleContext = {
    system: config.system,
    group: config.group,
    message,
    fail: failed,
    recover: (reason) => {
      config.logger.warn({ group: config.group, routingKey: message.routingKey, id: message.id, reason }, "omnibus: a middleware recovered a failed handler")
      return handled
    },
  }
  return compose(config.middleware, ctx, core)().catch(failed)
}

/**
 * `wait` sleeps between in-place retries (outside the solo gate for a normal delivery).
 * A first delivery without middleware or idempotency store, nearly every message, runs as a
 * promise chain: an async call suspended for the handler keeps a frame per message alive
 * (bench/FINDINGS.md, the consume path's allocations). Everything else, and every failure,
 * goes the async way.
 */
export const handleDelivery = (config: PipelineConfig, delivery: Delivery, wait: (ms: number) => Promise<void>): Promise<unknown> => {
  const attempt = delivery.attempt
  if (paysBudgetCheck(config, delivery) || config.idempotency !== undefined || config.middleware.length > 0) {
    return handleCarefully(config, delivery, wait)
  }
  let payload: unknown
  try {
    payload = decode(config.codec, delivery, config.maxPayloadBytes)
  } catch (decodeError) {
    return config.settler.deadLetter(delivery, decodeError, attempt, delivery.firstFailureAt ?? Date.now())
  }
  let handling: Promise<unknown>
  try {
    handling = Promise.resolve(config.handler(toMessage(delivery.envelope, payload, attempt, 0, config.group)))
  } catch (e) {
    handling = Promise.reject(e)
  }
  return handling.then(
    () => config.settler.ack(delivery, attempt),
    (e: unknown) => runAttempts(config, delivery, wait, payload, "", attempt, 0, delivery.firstFailureAt, failed(e)),
  )
}

/** Only a redelivered or over-attempted delivery pays for the async redelivery budget check. */
const paysBudgetCheck = (config: PipelineConfig, delivery: Delivery): boolean => delivery.redeliveries > 0 || delivery.attempt > config.retry.attempts

/** The whole pipeline: the redelivery budget, decode, the idempotency claim, the attempts. */
const handleCarefully = async (config: PipelineConfig, delivery: Delivery, wait: (ms: number) => Promise<void>): Promise<unknown> => {
  const { settler } = config
  const env = delivery.envelope
  const attempt = delivery.attempt
  const firstFailureAt = delivery.firstFailureAt
  if (paysBudgetCheck(config, delivery)) {
    let over: Error | undefined
    try {
      over = await overBudget(delivery, config.retry, config.logger)
    } catch (e) {
      // not ours any more (../transport.ts DeliveryLost): given back unjudged, its next owner runs it
      if (e instanceof DeliveryLost) return settler.release(delivery)
      throw e
    }
    if (over) return settler.deadLetter(delivery, over, attempt, firstFailureAt ?? Date.now())
  }
  let payload: unknown
  try {
    payload = decode(config.codec, delivery, config.maxPayloadBytes)
  } catch (decodeError) {
    return settler.deadLetter(delivery, decodeError, attempt, firstFailureAt ?? Date.now())
  }
  const idem = config.idempotency
  const idemKey = idem ? idempotencyKey(config.group, env.id) : ""
  if (idem && (await claim(idem, idemKey, config.logger)) === "done") return settler.ack(delivery, attempt, "duplicate")
  return runAttempts(config, delivery, wait, payload, idemKey, attempt, delivery.redeliveries, firstFailureAt, undefined)
}

/**
 * Runs the handler until the delivery is settled: acked, retried through the broker, retried
 * in place (ordered), or dead-lettered. `outcome`: the first attempt's, when it already ran.
 */
const runAttempts = async (
  config: PipelineConfig,
  delivery: Delivery,
  wait: (ms: number) => Promise<void>,
  payload: unknown,
  idemKey: string,
  attempt: number,
  // in-place retries (ordered) start a fresh attempt that has not been redelivered
  redeliveries: number,
  firstFailureAt: number | undefined,
  outcome: HandleOutcome | undefined,
): Promise<unknown> => {
  const { settler } = config
  const idem = config.idempotency
  for (;;) {
    if (outcome === undefined) {
      const message = toMessage(delivery.envelope, payload, attempt, redeliveries, config.group)
      if (config.middleware.length === 0) {
        // no middleware: the handler called here, without the wrapper's extra promise per message
        try {
          await config.handler(message)
          outcome = handled
        } catch (e) {
          outcome = failed(e)
        }
      } else outcome = await runHandler(config, message)
    }
    if (outcome.ok) {
      if (idem) await quietly(() => idem.store.complete(idemKey, idem.ttlMs))
      return settler.ack(delivery, attempt)
    }
    const error = outcome.error
    outcome = undefined
    firstFailureAt ??= Date.now()
    const delayMs = isPermanent(error) ? undefined : config.retry.delayAfter(attempt)
    if (delayMs === undefined) {
      await settler.deadLetter(delivery, error, attempt, firstFailureAt)
      // Released, never marked done: a dead letter is not handled, and its replay (same id) must
      // reach the handler instead of being acked as a duplicate. The price: a copy the broker
      // redelivers after its dead letter was stored (a crash before the ack) may be dead-lettered twice.
      if (idem) await quietly(() => idem.store.release(idemKey))
      return
    }
    if (!config.ordered) {
      if (idem) await quietly(() => idem.store.release(idemKey))
      return settler.retry(delivery, attempt, delayMs, firstFailureAt, error)
    }
    // Ordered by key: retry in place so later messages of this key wait.
    settler.emit(delivery, "retry", attempt, { error, delayMs })
    await wait(delayMs)
    if (config.closing()) {
      if (idem) await quietly(() => idem.store.release(idemKey))
      return settler.release(delivery)
    }
    attempt++
    redeliveries = 0
  }
}
