/** A bounded wait for any condition (a spy's `waitFor` covers messages; this covers the rest). */
import { waitUntil } from "@omnibus/conformance/brokers"

/** Options of waitFor. */
export interface WaitForOptions {
  /** Default 10,000 ms, like a spy's waitFor. */
  readonly timeoutMs?: number
  /** Named in the timeout error. */
  readonly what?: string
}

/** Polls `check` every 50 ms until it returns true; rejects after `timeoutMs`. */
export const waitFor = (check: () => boolean | Promise<boolean>, options: WaitForOptions = {}): Promise<void> =>
  waitUntil(check, options.timeoutMs ?? 10_000, options.what ?? "a condition")
