/**
 * The outbox relay: publishes the events that writes left in the outbox
 * table, then marks them sent. At-least-once: a crash between the broker's
 * confirm and the UPDATE publishes the row again on restart, with the same
 * message id (the row's id), so consumers that dedupe by id see it once.
 * Rows go out in commit order; the row's sequence number travels in the
 * OUTBOX_SEQ_HEADER so consumers can ignore a change older than one they
 * already applied (competing consumers do not keep per-key order).
 */
import type { BatchEntry, Bus, Codec } from "@omnibus/core"
import type { EmployeeStore, OutboxRow } from "./store.ts"

export const OUTBOX_SEQ_HEADER = "x-outbox-seq"

export interface RelayOptions {
  readonly batchSize?: number
  /** Look for rows even without a notify (rows left by a crash or another writer). */
  readonly pollMs?: number
  readonly log?: (line: string) => void
}

/** The stored bytes are already the encoded message: publish them as they are, with their content type. */
const stored = (contentType: string): Codec<Uint8Array> => ({ contentType, encode: (b) => b, decode: (b) => b })

const toEntry = (row: OutboxRow): BatchEntry => ({
  key: row.routingKey,
  payload: row.payload,
  codec: stored(row.contentType),
  options: { id: row.id, key: row.messageKey, headers: { [OUTBOX_SEQ_HEADER]: String(row.seq) } },
})

export class OutboxRelay {
  private readonly store: EmployeeStore
  private readonly bus: Bus
  private readonly batchSize: number
  private readonly pollMs: number
  private readonly log: (line: string) => void
  private wake: (() => void) | undefined
  private pending = false
  private stopped = false
  private loop: Promise<void> | undefined

  constructor(store: EmployeeStore, bus: Bus, options: RelayOptions = {}) {
    this.store = store
    this.bus = bus
    this.batchSize = options.batchSize ?? 100
    this.pollMs = options.pollMs ?? 1000
    this.log = options.log ?? ((line) => console.error(line))
  }

  start(): void {
    this.loop ??= this.run()
  }

  /** A write committed: publish without waiting for the next poll. */
  notify(): void {
    this.pending = true
    this.wake?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    let backoffMs = 0
    while (!this.stopped) {
      this.pending = false
      let failed = false
      try {
        const rows = this.store.unsent(this.batchSize)
        if (rows.length > 0) {
          const results = await this.bus.publishBatch(rows.map(toEntry))
          const sent = rows.filter((_, i) => results[i]?.ok === true).map((r) => r.id)
          this.store.markSent(sent)
          for (const [i, r] of results.entries()) {
            if (!r.ok) this.log(`outbox: publishing ${rows[i]!.routingKey} ${rows[i]!.id} failed, will retry: ${r.error.message}`)
          }
          failed = sent.length < rows.length
          // A full batch means more may be waiting: go again at once.
          if (!failed && rows.length === this.batchSize) continue
        }
      } catch (e) {
        failed = true
        this.log(`outbox: relay error, will retry: ${e instanceof Error ? e.message : String(e)}`)
      }
      // After a failure, back off (200 ms doubling to 5 s) so a broker outage is not hammered; notify() does not cut it short.
      backoffMs = failed ? Math.min(Math.max(backoffMs * 2, 200), 5000) : 0
      if (failed) await this.idle(backoffMs, false)
      else if (!this.pending) await this.idle(this.pollMs, true)
    }
  }

  private idle(ms: number, wakeOnNotify: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = wakeOnNotify ? done : () => (this.stopped ? done() : undefined)
    })
  }
}
