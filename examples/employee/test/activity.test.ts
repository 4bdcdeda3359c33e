/**
 * The Activity page's data: the web app's bounded ring with latencies filled
 * in whichever order a message's events arrive, the check of what comes off
 * the bus, and the relay side reporting only what the broker confirmed.
 */
import { codecs, connect } from "@omnibus/core"
import "@omnibus/memory"
import { describe, expect, it } from "vitest"
import { parseActivity, ACTIVITY_KEY, type ActivityEvent } from "../src/activity/event.ts"
import { ActivityFeed, type ActivityRow } from "../src/activity/feed.ts"
import { activityReporter } from "../src/activity/reporter.ts"
import { waitFor } from "./support/wait.ts"

const event = (fields: Partial<ActivityEvent> & Pick<ActivityEvent, "type" | "at">): ActivityEvent => ({
  source: "payroll-1",
  broker: "memory",
  id: "m-1",
  routingKey: "employee.created",
  ...fields,
})

describe("activity feed", () => {
  it("keeps the last events only", () => {
    const feed = new ActivityFeed(200)
    for (let i = 0; i < 205; i++) feed.add(event({ type: "published", id: `m-${i}`, at: i }))
    const rows = feed.since(0)
    expect(rows.length).toBe(200)
    expect(rows[0]!.id).toBe("m-5")
    expect(rows.at(-1)!.id).toBe("m-204")
  })

  it("measures from the message's publish, also when the outcome arrives first, and sends the updated row again", () => {
    const feed = new ActivityFeed()
    const sent: Array<ActivityRow> = []
    feed.listen((r) => void sent.push(r))
    feed.add(event({ type: "published", id: "a", at: 1_000 }))
    feed.add(event({ type: "handled", id: "a", group: "audit", at: 1_250 }))
    expect(sent.map((r) => [r.type, r.latencyMs])).toEqual([["published", undefined], ["handled", 250]])

    // From another process, the outcome may come before its "published".
    feed.add(event({ type: "dead-letter", id: "b", at: 2_300 }))
    const early = sent.at(-1)!
    expect(early.latencyMs).toBeUndefined()
    feed.add(event({ type: "published", id: "b", at: 2_000 }))
    const updated = sent.at(-1)!
    expect([updated.seq, updated.type, updated.latencyMs]).toEqual([early.seq, "dead-letter", 300])
    expect(updated.rev).toBeGreaterThan(early.rev)
    // A stream that had seen `early` gets the new "published" and the updated row, in that order.
    expect(feed.since(early.rev).map((r) => [r.type, r.id])).toEqual([["published", "b"], ["dead-letter", "b"]])
    expect(feed.since(0).filter((r) => r.seq === early.seq)).toEqual([updated])
    // Replays are not outcomes: no latency.
    feed.add(event({ type: "replayed", id: "b", source: "web", at: 5_000 }))
    expect(sent.at(-1)!.latencyMs).toBeUndefined()
  })

  it("keeps well-formed activity events only, and only their known fields", () => {
    const good = event({ type: "retry", at: 1, attempt: 2, delayMs: 400, error: { name: "Error", message: "boom" } })
    expect(parseActivity({ ...good, extra: "<script>" })).toEqual({ ...good, group: undefined })
    expect(parseActivity({ ...good, type: "exploded" })).toBeUndefined()
    expect(parseActivity({ ...good, id: 7 })).toBeUndefined()
    expect(parseActivity("published")).toBeUndefined()
    expect(parseActivity({ ...good, error: "boom" })?.error).toBeUndefined()
  })
})

describe("activity reporter", () => {
  it("reports what a relay's batch got confirmed as published, at the time the batch was handed over", async () => {
    const bus = await connect(`memory://activity-${crypto.randomUUID()}`)
    try {
      const seen: Array<ActivityEvent> = []
      await bus.subscribe<unknown>(ACTIVITY_KEY, (m) => void seen.push(parseActivity(m.payload)!), { codec: codecs.json })
      const before = Date.now()
      const results = await activityReporter(bus, "service", () => {}).relaying(bus).publishBatch([
        { key: "employee.created", payload: { guid: "g" }, options: { id: "ok-1" } },
        { key: "not a key", payload: {}, options: { id: "refused-1" } },
      ])
      expect(results.map((r) => r.ok)).toEqual([true, false])
      await waitFor("the published activity", () => (seen.length > 0 ? true : undefined))
      expect(seen).toEqual([{ type: "published", source: "service", broker: "memory", id: "ok-1", routingKey: "employee.created", at: seen[0]!.at }])
      expect(seen[0]!.at).toBeGreaterThanOrEqual(before)
    } finally {
      await bus.close()
    }
  })
})
