/**
 * The components' side of the Activity page: turns what a component sees into
 * activity events on the events bus (event.ts). Fire and forget: reporting
 * must never slow down or fail the work it reports on, so a failed publish is
 * logged (once per run of failures) and otherwise ignored.
 */
import { BusClosed, type BatchEntry, type BatchResult, type Bus, type HandlerEvent } from "@omnibus/core"
import type { Log } from "../component.ts"
import { ACTIVITY, type ActivityEvent } from "./event.ts"

export type ActivityReport = Omit<ActivityEvent, "source" | "broker" | "at"> & { readonly at?: number }

export interface ActivityReporter {
  report(event: ActivityReport): void
  /** A subscription's `observe` option: every outcome becomes an activity event. */
  readonly observe: (event: HandlerEvent) => void
  /** `bus` for an outbox relay, reporting each confirmed message as "published" (at the time the batch was handed over). */
  relaying(bus: Pick<Bus, "publishBatch">): Pick<Bus, "publishBatch">
}

const errorOf = (e: unknown): ActivityEvent["error"] =>
  e === undefined ? undefined : e instanceof Error ? { name: e.name, message: e.message } : { name: typeof e, message: String(e) }

/** Reports as `source` on `bus` (the component's events bus, which also names the broker). */
export const activityReporter = (bus: Bus, source: string, log: Log): ActivityReporter => {
  let failing = false
  const report = (event: ActivityReport): void => {
    bus.publish(ACTIVITY, { ...event, source, broker: bus.transport, at: event.at ?? Date.now() }).then(
      () => (failing = false),
      (e: unknown) => {
        // While closing, the last outcomes may come after the bus stopped taking publishes.
        if (e instanceof BusClosed || failing) return
        failing = true
        log(`activity not reported: ${e instanceof Error ? e.message : String(e)}`)
      },
    )
  }
  return {
    report,
    observe: (e) => report({ type: e.type, group: e.group, id: e.id, routingKey: e.routingKey, attempt: e.attempt, error: errorOf(e.error), delayMs: e.delayMs }),
    relaying: (inner) => ({
      publishBatch: async (entries: ReadonlyArray<BatchEntry>): Promise<ReadonlyArray<BatchResult>> => {
        const at = Date.now()
        const results = await inner.publishBatch(entries)
        results.forEach((r, i) => {
          const key = entries[i]!.key
          if (r.ok) report({ type: "published", id: r.id, routingKey: typeof key === "string" ? key : key.key, at })
        })
        return results
      },
    }),
  }
}
