import type { Subscription } from "@omnibus/core"

/** What every part of the platform (service, web, audit, payroll) returns when started. */
export interface Component {
  /** Stops taking work, finishes what is running, disconnects. */
  close(): Promise<void>
}

export type Log = (line: string) => void

/**
 * Subscriptions or RPC servers registered together (on some brokers each one joins a consumer group, which
 * takes seconds): all of them, or, when one fails, none (the others are closed) and that failure.
 */
export const allRegistered = async (registrations: ReadonlyArray<Promise<Subscription | ReadonlyArray<Subscription>>>): Promise<Array<Subscription>> => {
  const settled = await Promise.allSettled(registrations)
  const registered = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value].flat() : []))
  const failed = settled.find((r) => r.status === "rejected")
  if (failed === undefined) return registered
  await Promise.allSettled(registered.map((s) => s.close()))
  throw failed.reason
}
