/**
 * Opens the example's SQLite files (node:sqlite, built into Node 22). WAL lets
 * readers (tests, the latency script) look while a writer writes, and the
 * busy timeout lets two payroll processes share one file.
 */
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseSync, type SQLOutputValue } from "node:sqlite"

export const openDatabase = (file: string): DatabaseSync => {
  mkdirSync(dirname(file), { recursive: true })
  const db = new DatabaseSync(file)
  // busy_timeout first: two payroll processes open the same file at once, and switching to WAL needs a lock.
  db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
  return db
}

/** Runs `f` in one write transaction (BEGIN IMMEDIATE takes the write lock up front, so it cannot fail half-way on a lock). */
export const transaction = <T>(db: DatabaseSync, f: () => T): T => {
  db.exec("BEGIN IMMEDIATE")
  try {
    const result = f()
    db.exec("COMMIT")
    return result
  } catch (e) {
    db.exec("ROLLBACK")
    throw e
  }
}

type Row = Record<string, SQLOutputValue>

/** Typed column readers: a schema drift fails loudly here instead of flowing on as a wrong type. */
export const textColumn = (row: Row, column: string): string => {
  const v = row[column]
  if (typeof v !== "string") throw new TypeError(`column ${column} is ${typeof v}, expected text`)
  return v
}

export const intColumn = (row: Row, column: string): number => {
  const v = row[column]
  if (typeof v === "bigint") return Number(v)
  if (typeof v !== "number") throw new TypeError(`column ${column} is ${typeof v}, expected an integer`)
  return v
}

export const blobColumn = (row: Row, column: string): Uint8Array => {
  const v = row[column]
  if (!(v instanceof Uint8Array)) throw new TypeError(`column ${column} is ${typeof v}, expected a blob`)
  return v
}
