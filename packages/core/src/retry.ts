/**
 * Retry with backoff, built on effect's Schedule. Redelivery happens through
 * the broker (a message may come back on another consumer, after a restart),
 * so a policy is a pure question: "the handler failed on attempt n: how long
 * until attempt n+1, or is it over?". We answer it by stepping the Schedule n
 * times; that keeps user-supplied Schedules usable as they are.
 */
import type * as Schedule from "effect/Schedule"
import type { BackoffOptions, RetryOptions } from "./api.ts"
import { toMillis } from "./duration.ts"
import { InvalidOptions } from "./errors.ts"
import { runtime } from "./lazy.ts"

export interface RetryPolicy {
  /** Total attempts including the first. */
  readonly attempts: number
  /** Redeliveries of one attempt without an outcome before the message counts as poison. */
  readonly maxRedeliveries: number
  /** Delay in ms before attempt `failed + 1`, or undefined when no attempt is left. */
  delayAfter(failedAttempt: number): number | undefined
}

export const DEFAULT_RETRY: Required<Pick<RetryOptions, "attempts" | "maxRedeliveries">> & { readonly backoff: Required<BackoffOptions> } = {
  attempts: 5,
  maxRedeliveries: 5,
  backoff: { initial: "200 millis", factor: 2, max: "30 seconds", jitter: true },
}

const isSchedule = (u: unknown): u is Schedule.Schedule<unknown, unknown> => runtime().Schedule.isSchedule(u)

/** Exponential backoff from options, capped by `max`, optionally jittered. */
export const backoffSchedule = (options: BackoffOptions): Schedule.Schedule<unknown> => {
  const initial = toMillis("retry.backoff.initial", options.initial ?? DEFAULT_RETRY.backoff.initial)
  const factor = options.factor ?? DEFAULT_RETRY.backoff.factor
  if (!(factor >= 1)) throw new InvalidOptions({ option: "retry.backoff.factor", reason: "must be >= 1" })
  const max = toMillis("retry.backoff.max", options.max ?? DEFAULT_RETRY.backoff.max)
  const { Duration, Schedule } = runtime()
  const capped = Schedule.min([Schedule.exponential(Duration.millis(initial), factor), Schedule.spaced(Duration.millis(max))])
  return options.jitter ?? DEFAULT_RETRY.backoff.jitter ? Schedule.jittered(capped) : capped
}

/** The n-th delay of a schedule (1-based), or undefined once it has ended. */
const nthDelay = (schedule: Schedule.Schedule<unknown, unknown>, n: number): number | undefined => {
  const { Duration, Effect, Exit, Schedule } = runtime()
  const exit = Effect.runSyncExit(
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(schedule)
      let delay = Duration.zero
      for (let i = 0; i < n; i++) {
        const [, d] = yield* step(0, undefined)
        delay = d
      }
      return Duration.toMillis(delay)
    }),
  )
  return Exit.isSuccess(exit) ? exit.value : undefined
}

export const retryPolicy = (options: RetryOptions | false | undefined): RetryPolicy => {
  if (options === false) return { attempts: 1, maxRedeliveries: DEFAULT_RETRY.maxRedeliveries, delayAfter: () => undefined }
  const attempts = options?.attempts ?? DEFAULT_RETRY.attempts
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new InvalidOptions({ option: "retry.attempts", reason: "must be an integer >= 1" })
  }
  const maxRedeliveries = options?.maxRedeliveries ?? DEFAULT_RETRY.maxRedeliveries
  if (!Number.isInteger(maxRedeliveries) || maxRedeliveries < 0) {
    throw new InvalidOptions({ option: "retry.maxRedeliveries", reason: "must be an integer >= 0" })
  }
  const b = options?.backoff
  const schedule = isSchedule(b) ? b : backoffSchedule(b ?? DEFAULT_RETRY.backoff)
  return {
    attempts,
    maxRedeliveries,
    delayAfter: (failed) => (failed >= attempts ? undefined : nthDelay(schedule, failed)),
  }
}
