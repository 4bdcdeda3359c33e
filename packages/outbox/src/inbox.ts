/**
 * The inbox: "this message was handled" recorded in the handler's own
 * database transaction, so the handler's writes and the mark commit or roll
 * back together.
 *
 * - `inbox.handler(fn)` wraps a handler: it opens a transaction, inserts the
 *   mark for (group, message id) first, runs `fn(msg, tx)`, and commits. If
 *   `fn` throws, everything rolls back (no mark) and the consumer retries as
 *   usual. If the mark is already there, `fn` is not run and the delivery is
 *   acked. Two copies handled at once: the second insert waits on the
 *   first's row lock (SQLite: on the write lock) and, once the first
 *   commits, finds the mark and skips.
 * - `inbox.store` is an IdempotencyStore for `subscribe`'s `idempotency`
 *   option: `claim` reads the committed marks ("done" acks the delivery as a
 *   duplicate without calling the handler; otherwise "acquired", with no
 *   lease row: the mark's insert above is what keeps two copies apart).
 *   `complete` writes the mark outside any transaction (it is there already
 *   when the handler is wrapped; it matters when a failed message is moved
 *   to the dead letters, so a redelivered copy is not handled again).
 *   `release` has nothing to undo.
 *
 * Use both: the store turns redeliveries into "duplicate" events before any
 * transaction is opened; the wrapper makes the mark atomic with the work.
 */
import { idempotencyKey, type Handler, type IdempotencyStore, type Message } from "@omnibus/core"
import type { Database, SqlClient } from "./sql.ts"
import { insertIgnore, placeholder, placeholders, tablesFor, type TableOptions, type Tables } from "./tables.ts"

export interface InboxOptions extends TableOptions {
  readonly db: Database
  /** How long a mark is kept (default one day, as core's idempotency default): redeliveries later than this run the handler again. */
  readonly ttlMs?: number
}

export interface Inbox {
  readonly tables: Tables
  readonly store: IdempotencyStore
  /** A subscribe handler running `fn` in a transaction that also records the message as handled. */
  handler<T>(fn: (msg: Message<T>, tx: SqlClient) => Promise<void>): Handler<T>
  /** Whether the message was handled by `group` (and its mark has not expired). */
  handled(group: string, messageId: string): Promise<boolean>
  /** Deletes expired marks; returns how many. */
  purge(): Promise<number>
}

const DAY_MS = 24 * 60 * 60 * 1000

/** The key core's consumer claims for a delivery, so a mark written here is the one its `claim` finds. */
export const inboxKey = idempotencyKey

export const createInbox = (options: InboxOptions): Inbox => {
  const { db } = options
  const { dialect } = db
  const tables = tablesFor(options)
  const ttlMs = options.ttlMs ?? DAY_MS
  const p = (n: number) => placeholder(dialect, n)
  const insertMark = insertIgnore(dialect, tables.inbox, "id, handled_at, expires_at", placeholders(dialect, 3))
  const renewExpired = `UPDATE ${tables.inbox} SET handled_at = ${p(1)}, expires_at = ${p(2)} WHERE id = ${p(3)} AND expires_at <= ${p(4)}`

  /** Inserts the mark, or renews an expired one; false when a live mark exists. */
  const mark = async (q: SqlClient, key: string, markTtlMs: number): Promise<boolean> => {
    const now = Date.now()
    if ((await q.query(insertMark, [key, now, now + markTtlMs])).rowCount > 0) return true
    return (await q.query(renewExpired, [now, now + markTtlMs, key, now])).rowCount > 0
  }

  const isHandled = async (key: string): Promise<boolean> => {
    const r = await db.query(`SELECT 1 AS handled FROM ${tables.inbox} WHERE id = ${p(1)} AND expires_at > ${p(2)}`, [key, Date.now()])
    return r.rows.length > 0
  }

  const store: IdempotencyStore = {
    claim: async (key) => ((await isHandled(key)) ? "done" : "acquired"),
    complete: async (key, completeTtlMs) => {
      await mark(db, key, completeTtlMs)
    },
    release: () => Promise.resolve(),
  }

  return {
    tables,
    store,
    handler:
      <T>(fn: (msg: Message<T>, tx: SqlClient) => Promise<void>): Handler<T> =>
      (msg) =>
        db.transaction(async (tx) => {
          if (!(await mark(tx, inboxKey(msg.group, msg.id), ttlMs))) return
          await fn(msg, tx)
        }),
    handled: (group, messageId) => isHandled(inboxKey(group, messageId)),
    purge: async () => (await db.query(`DELETE FROM ${tables.inbox} WHERE expires_at <= ${p(1)}`, [Date.now()])).rowCount,
  }
}
