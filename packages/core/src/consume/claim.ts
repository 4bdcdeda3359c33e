/**
 * Idempotency stage: claim the message id for the group before the handler,
 * mark it done or give it back after. Store failures never lose a message.
 */
import { describeError } from "../errors.ts"
import type { IdempotencyStore } from "../idempotency.ts"
import type { Logger } from "../logger.ts"

export interface IdempotencyConfig {
  readonly store: IdempotencyStore
  readonly ttlMs: number
  readonly leaseMs: number
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits while another consumer holds the claim: its lease either ends in "done" or runs out. */
export const claim = async (idem: IdempotencyConfig, key: string, logger: Logger): Promise<"acquired" | "done" | "in-progress"> => {
  const deadline = Date.now() + idem.leaseMs + 1_000
  for (;;) {
    let r: Awaited<ReturnType<IdempotencyStore["claim"]>>
    try {
      r = await idem.store.claim(key, idem.leaseMs)
    } catch (e) {
      // An unreachable store must not lose the message: handle it (at-least-once) and log.
      logger.warn({ key, error: describeError(e).message }, "omnibus: idempotency store failed; handling anyway")
      return "acquired"
    }
    if (r !== "in-progress" || Date.now() > deadline) return r
    await sleep(50)
  }
}

/** Bookkeeping after the outcome is best effort: the lease expires otherwise, and a later copy is handled again (at-least-once). */
export const quietly = async (p: () => Promise<unknown>): Promise<void> => {
  try {
    await p()
  } catch {
    /* see above */
  }
}
