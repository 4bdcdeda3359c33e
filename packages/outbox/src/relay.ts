/**
 * The relay: drains the outbox table to a bus. At least once: a row is
 * deleted (or marked sent) only after the bus confirmed it, so a crash in
 * between publishes it again, with the same message id (consumers dedupe by
 * it: the inbox, or `idempotency` on subscribe).
 *
 * Several relays may run at once. On PostgreSQL and MySQL/MariaDB each batch
 * is read with `FOR UPDATE SKIP LOCKED` in a transaction that stays open
 * until the rows are published and deleted: other relays skip locked rows,
 * so a row is sent by one relay. Per-key order: a relay sends a key's rows
 * only when the oldest unsent row of that key is in its own batch; a key
 * whose head another relay holds waits for it. On SQLite (one writer) the
 * relays share a lease: one drains, the others stand by and take over when
 * its lease runs out.
 */
import type { BatchEntry, Bus, Codec } from "@omnibus/core"
import type { Database, SqlClient, SqlValue } from "./sql.ts"
import { insertIgnore, placeholder, placeholders, tablesFor, type TableOptions } from "./tables.ts"

export interface RelayOptions extends TableOptions {
  readonly db: Database
  /** Any bus; only publishBatch is used. */
  readonly bus: Pick<Bus, "publishBatch">
  /** Rows read, held in memory and published at once (default 100): the relay never holds more. */
  readonly batchSize?: number
  /** How often to look for rows without a wake-up: default 1 s, or 10 s when PostgreSQL LISTEN/NOTIFY wakes the relay. */
  readonly pollIntervalMs?: number
  /** Waits after a failed batch (broker or database down): doubling from initialMs (200) up to maxMs (5000). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number }
  /** What happens to sent rows: "delete" (default), or keep them marked sent for retainMs, then delete. */
  readonly cleanup?: "delete" | { readonly retainMs: number }
  /** SQLite: how long the draining relay's lease lasts without renewal (default 10 s). */
  readonly leaseMs?: number
  /** Failures the relay retries by itself (default: console.error). */
  readonly onError?: (error: unknown) => void
}

export interface OutboxStats {
  /** Rows not sent yet. */
  readonly pending: number
  /** Age of the oldest unsent row, in ms (undefined when none is pending). */
  readonly oldestAgeMs: number | undefined
  /** Rows this relay has published and cleaned up since it started. */
  readonly sentTotal: number
}

export interface Relay {
  /** Wakes the relay now (for example after a commit, on a database without NOTIFY). */
  notify(): void
  stats(): Promise<OutboxStats>
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>
}

interface Row {
  readonly seq: number
  readonly id: string
  readonly routingKey: string
  readonly messageKey: string | undefined
  readonly payload: Uint8Array
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId: string | undefined
  /** When outbox.publish wrote the row (the message's timestamp, kept by the relay). */
  readonly createdAt: number
}

type Outcome = "more" | "idle" | "waiting" | "failed"

const COLUMNS = "seq, id, routing_key, message_key, payload, content_type, headers, correlation_id, created_at"
/** A relay that found only rows whose key another relay is sending looks again this soon. */
const CONTENDED_RETRY_MS = 50
const PURGE_EVERY_MS = 60_000

const text = (v: unknown): string => (typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : String(v))
const optionalText = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : text(v))
const bytes = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : Buffer.from(text(v), "utf8"))

const toRow = (r: Readonly<Record<string, unknown>>): Row => ({
  seq: Number(r.seq),
  id: text(r.id),
  routingKey: text(r.routing_key),
  messageKey: optionalText(r.message_key),
  payload: bytes(r.payload),
  contentType: text(r.content_type),
  headers: JSON.parse(text(r.headers)) as Record<string, string>,
  correlationId: optionalText(r.correlation_id),
  createdAt: Number(r.created_at),
})

/** The stored bytes are the encoded message already: published as they are, with their content type. */
const stored = (contentType: string): Codec<Uint8Array> => ({ contentType, encode: (b) => b, decode: (b) => b })

const toEntry = (row: Row): BatchEntry => ({
  key: row.routingKey,
  payload: row.payload,
  codec: stored(row.contentType),
  options: { id: row.id, key: row.messageKey, headers: row.headers, correlationId: row.correlationId, timestamp: row.createdAt },
})

/** The rows of a batch that may go out now: a key's rows only if its oldest unsent row is in the batch. */
const sendable = (rows: ReadonlyArray<Row>, heads: ReadonlyMap<string, number>): ReadonlyArray<Row> => {
  const first = new Map<string, number>()
  for (const r of rows) if (r.messageKey !== undefined && !first.has(r.messageKey)) first.set(r.messageKey, r.seq)
  return rows.filter((r) => r.messageKey === undefined || heads.get(r.messageKey) === first.get(r.messageKey))
}

/** The rows confirmed by the bus, minus any row after a failed row of the same key (sent again later, in order). */
const confirmed = (rows: ReadonlyArray<Row>, ok: ReadonlyArray<boolean>): ReadonlyArray<Row> => {
  const blocked = new Set<string>()
  return rows.filter((r, i) => {
    if (r.messageKey !== undefined && blocked.has(r.messageKey)) return false
    if (ok[i]) return true
    if (r.messageKey !== undefined) blocked.add(r.messageKey)
    return false
  })
}

export const startRelay = (options: RelayOptions): Relay => {
  const { db, bus } = options
  const { dialect } = db
  const t = tablesFor(options)
  const batchSize = options.batchSize ?? 100
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError("batchSize must be a positive integer")
  const initialBackoffMs = options.backoff?.initialMs ?? 200
  const maxBackoffMs = options.backoff?.maxMs ?? 5000
  const retainMs = options.cleanup === undefined || options.cleanup === "delete" ? undefined : options.cleanup.retainMs
  const leaseMs = options.leaseMs ?? 10_000
  const onError = options.onError ?? ((e: unknown) => console.error("omnibus outbox relay:", e))
  const owner = `${process.pid}-${crypto.randomUUID()}`
  const p = (n: number) => placeholder(dialect, n)

  const lock = dialect === "sqlite" ? "" : " FOR UPDATE SKIP LOCKED"
  // InnoDB: a locking read through the (sent_at, seq) index keeps locks on the index entries of
  // rows it skipped, and two relays' deletes then deadlock; reading by the primary key does not.
  const index = dialect === "mysql" ? " FORCE INDEX (PRIMARY)" : ""
  const selectBatch = `SELECT ${COLUMNS} FROM ${t.outbox}${index} WHERE sent_at IS NULL ORDER BY seq LIMIT ${batchSize}${lock}`

  let stopped = false
  let wakeRequested = false
  let wake: ((byNotify: boolean) => void) | undefined
  let sentTotal = 0
  let lastPurge = 0
  let stopListening: (() => Promise<void>) | undefined

  const heads = async (q: SqlClient, rows: ReadonlyArray<Row>): Promise<ReadonlyMap<string, number>> => {
    const keys = [...new Set(rows.flatMap((r) => (r.messageKey === undefined ? [] : [r.messageKey])))]
    if (keys.length === 0) return new Map()
    const r = await q.query(
      `SELECT message_key, MIN(seq) AS head FROM ${t.outbox} WHERE sent_at IS NULL AND message_key IN (${placeholders(dialect, keys.length)}) GROUP BY message_key`,
      keys,
    )
    return new Map(r.rows.map((h) => [text(h.message_key), Number(h.head)]))
  }

  const publish = async (rows: ReadonlyArray<Row>): Promise<ReadonlyArray<Row>> => {
    let ok: ReadonlyArray<boolean>
    try {
      const results = await bus.publishBatch(rows.map(toEntry))
      ok = rows.map((_, i) => results[i]?.ok === true)
      const failure = results.find((r) => !r.ok)
      if (failure && !failure.ok) onError(failure.error)
    } catch (e) {
      onError(e)
      ok = rows.map(() => false)
    }
    return confirmed(rows, ok)
  }

  const cleanUp = async (q: SqlClient, rows: ReadonlyArray<Row>): Promise<void> => {
    if (rows.length === 0) return
    const seqs: Array<SqlValue> = rows.map((r) => r.seq)
    if (retainMs === undefined) {
      await q.query(`DELETE FROM ${t.outbox} WHERE seq IN (${placeholders(dialect, seqs.length)})`, seqs)
    } else {
      await q.query(`UPDATE ${t.outbox} SET sent_at = ${p(1)} WHERE seq IN (${placeholders(dialect, seqs.length, 2)})`, [Date.now(), ...seqs])
    }
    sentTotal += rows.length
  }

  const outcomeOf = (read: number, candidates: number, sent: number): Outcome => {
    if (sent < candidates) return "failed"
    if (candidates < read) return "waiting" // some keys are held by another relay
    return read === batchSize ? "more" : "idle"
  }

  /** PostgreSQL, MySQL: one transaction holds the batch's row locks until its rows are published and cleaned up. */
  const drainLocked = (): Promise<Outcome> =>
    db.transaction(async (tx) => {
      const rows = (await tx.query(selectBatch)).rows.map(toRow)
      if (rows.length === 0) return "idle"
      const candidates = sendable(rows, await heads(tx, rows))
      const sent = candidates.length === 0 ? [] : await publish(candidates)
      await cleanUp(tx, sent)
      return outcomeOf(rows.length, candidates.length, sent.length)
    })

  /** SQLite: takes or renews the lease; only its holder drains. */
  const holdLease = (): Promise<boolean> =>
    db.transaction(async (tx) => {
      const now = Date.now()
      await tx.query(insertIgnore(dialect, t.lease, "name, owner, expires_at", placeholders(dialect, 3)), ["relay", "", 0])
      const r = await tx.query(`UPDATE ${t.lease} SET owner = ?, expires_at = ? WHERE name = 'relay' AND (owner = ? OR expires_at < ?)`, [owner, now + leaseMs, owner, now])
      return r.rowCount > 0
    })

  /** SQLite: no transaction is held across the publish (it would block every writer of the file). */
  const drainLeased = async (): Promise<Outcome> => {
    if (!(await holdLease())) return "waiting"
    const rows = (await db.query(selectBatch)).rows.map(toRow)
    if (rows.length === 0) return "idle"
    const sent = await publish(rows)
    await db.transaction((tx) => cleanUp(tx, sent))
    return outcomeOf(rows.length, rows.length, sent.length)
  }

  const purge = async (): Promise<void> => {
    if (retainMs === undefined || Date.now() - lastPurge < Math.min(retainMs, PURGE_EVERY_MS)) return
    lastPurge = Date.now()
    await db.query(`DELETE FROM ${t.outbox} WHERE sent_at IS NOT NULL AND sent_at < ${p(1)}`, [Date.now() - retainMs])
  }

  const listen = async (): Promise<void> => {
    if (!db.listen || stopListening || stopped) return
    try {
      stopListening = await db.listen(
        t.channel,
        () => notify(),
        (e) => {
          stopListening = undefined
          onError(e)
        },
      )
    } catch (e) {
      onError(e) // polling goes on; LISTEN is tried again on the next round
    }
  }

  const idle = (ms: number, wakeOnNotify: boolean): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      wake = (byNotify) => (!byNotify || wakeOnNotify ? done() : undefined)
    })

  const notify = () => {
    wakeRequested = true
    wake?.(true)
  }

  const run = async (): Promise<void> => {
    let backoffMs = 0
    while (!stopped) {
      await listen()
      wakeRequested = false
      let outcome: Outcome
      try {
        outcome = dialect === "sqlite" ? await drainLeased() : await drainLocked()
        await purge()
      } catch (e) {
        onError(e)
        outcome = "failed"
      }
      if (stopped) break
      if (outcome === "more") continue
      if (outcome === "failed") {
        // Back off so a broker or database outage is not hammered; a NOTIFY does not cut it short.
        backoffMs = Math.min(Math.max(backoffMs * 2, initialBackoffMs), maxBackoffMs)
        await idle(backoffMs, false)
        continue
      }
      backoffMs = 0
      const pollMs = options.pollIntervalMs ?? (stopListening ? 10_000 : 1000)
      if (outcome === "waiting") await idle(dialect === "sqlite" ? Math.min(pollMs, leaseMs / 2) : CONTENDED_RETRY_MS, true)
      else if (!wakeRequested) await idle(pollMs, true)
    }
  }

  const loop = run()

  return {
    notify,
    async stats() {
      const r = await db.query(`SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM ${t.outbox} WHERE sent_at IS NULL`)
      const row = r.rows[0] ?? {}
      const oldest = row.oldest === null || row.oldest === undefined ? undefined : Number(row.oldest)
      return { pending: Number(row.pending ?? 0), oldestAgeMs: oldest === undefined ? undefined : Math.max(0, Date.now() - oldest), sentTotal }
    },
    async stop() {
      stopped = true
      wake?.(false)
      await loop
      await stopListening?.()
      stopListening = undefined
      if (dialect === "sqlite") {
        // Hands the lease over at once instead of making a standby wait for it to run out.
        await db.query(`UPDATE ${t.lease} SET expires_at = 0 WHERE name = 'relay' AND owner = ?`, [owner]).catch(onError)
      }
    },
  }
}
