/**
 * The web app's side of the Activity page: the last activity events in a
 * bounded ring, each with the latency from its message's "published" event
 * (when the ring still holds it) to this one. Events come from several
 * processes, so a message's outcome may arrive before its "published" event:
 * the outcome's latency is then filled in when that arrives, and the row sent
 * again. Every change gets a new revision, so a stream can resume after the
 * last one it sent (Server-Sent Events' Last-Event-ID).
 */
import type { ActivityEvent } from "./event.ts"

export const ACTIVITY_CAPACITY = 200

export interface ActivityRow extends ActivityEvent {
  /** The row's identity: stays the same when the row is updated. */
  readonly seq: number
  /** Increases with every change of any row. */
  readonly rev: number
  /** Milliseconds from the message's "published" event to this one; undefined while unknown. */
  readonly latencyMs: number | undefined
}

/** Types whose latency means something: what happened to a published message. */
const hasLatency = (e: ActivityEvent): boolean => e.type !== "published" && e.type !== "replayed"

export class ActivityFeed {
  private readonly capacity: number
  private rows: Array<ActivityRow> = []
  private seq = 0
  private rev = 0
  private readonly listeners = new Set<(row: ActivityRow) => void>()

  constructor(capacity = ACTIVITY_CAPACITY) {
    this.capacity = capacity
  }

  add(event: ActivityEvent): void {
    const row: ActivityRow = { ...event, seq: ++this.seq, rev: ++this.rev, latencyMs: hasLatency(event) ? this.latency(event) : undefined }
    this.rows.push(row)
    if (this.rows.length > this.capacity) this.rows.splice(0, this.rows.length - this.capacity)
    this.changed(row)
    if (event.type !== "published") return
    // Outcomes reported before their "published" event reached us.
    this.rows = this.rows.map((r) => {
      if (r.id !== event.id || r.latencyMs !== undefined || !hasLatency(r) || r.at < event.at) return r
      const updated = { ...r, rev: ++this.rev, latencyMs: r.at - event.at }
      this.changed(updated)
      return updated
    })
  }

  /** Rows changed after revision `rev`, in the order of their changes (0: the whole ring). */
  since(rev: number): ReadonlyArray<ActivityRow> {
    return this.rows.filter((r) => r.rev > rev).sort((a, b) => a.rev - b.rev)
  }

  /** Calls `listener` with every new or updated row; returns the unsubscribe. */
  listen(listener: (row: ActivityRow) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The latest "published" event of the message at or before `e`. */
  private latency(e: ActivityEvent): number | undefined {
    let published: number | undefined
    for (const r of this.rows) if (r.type === "published" && r.id === e.id && r.at <= e.at) published = r.at
    return published === undefined ? undefined : e.at - published
  }

  private changed(row: ActivityRow): void {
    for (const l of this.listeners) l(row)
  }
}
