/**
 * SQLite through `node:sqlite` (built into Node 22.13+ without a flag; it
 * prints an ExperimentalWarning on Node 22). The type below is the part of
 * `DatabaseSync` used here.
 *
 * A DatabaseSync is synchronous and has one transaction at a time: a
 * transaction that awaits (the inbox handler) would take in every statement
 * other code runs on the same connection meanwhile. So every statement and
 * transaction through `sqlite(db)` is queued behind the one running, and the
 * relay should get its own connection (another DatabaseSync on the same file).
 */
import type { Database, SqlClient, SqlResult, SqlValue } from "./sql.ts"

export interface SqliteDatabase {
  exec(sql: string): void
  prepare(sql: string): {
    all(...params: Array<SqlValue>): Array<unknown>
    run(...params: Array<SqlValue>): { changes: number | bigint }
  }
}

const returnsRows = (sql: string): boolean => /^\s*(SELECT|WITH|PRAGMA)\b/i.test(sql) || /\bRETURNING\b/i.test(sql)

/** Runs statements on a DatabaseSync directly (inside a transaction you opened yourself). */
export const sqliteClient = (db: SqliteDatabase): SqlClient => ({
  query: (sql: string, params: ReadonlyArray<SqlValue> = []): Promise<SqlResult> => {
    try {
      const statement = db.prepare(sql)
      if (returnsRows(sql)) return Promise.resolve({ rows: statement.all(...params) as Array<Record<string, unknown>>, rowCount: 0 })
      return Promise.resolve({ rows: [], rowCount: Number(statement.run(...params).changes) })
    } catch (e) {
      return Promise.reject(e)
    }
  },
})

/**
 * One queue for every SQLite connection of the process: two connections
 * whose transactions interleave across awaits would wait on each other's
 * write lock synchronously (busy_timeout blocks the event loop) and deadlock.
 */
let tail: Promise<unknown> = Promise.resolve()
const queued = <T>(work: () => Promise<T>): Promise<T> => {
  const run = tail.then(work, work)
  tail = run.catch(() => undefined)
  return run
}

/** A SQLite Database over a `node:sqlite` DatabaseSync. */
export const sqlite = (db: SqliteDatabase): Database => {
  const client = sqliteClient(db)
  return {
    dialect: "sqlite",
    query: (sql, params) => queued(() => client.query(sql, params)),
    transaction: (fn) =>
      queued(async () => {
        db.exec("BEGIN IMMEDIATE")
        try {
          const result = await fn(client)
          db.exec("COMMIT")
          return result
        } catch (e) {
          db.exec("ROLLBACK")
          throw e
        }
      }),
  }
}
