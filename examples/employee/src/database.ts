/**
 * The components' databases, picked by config like the brokers: SQLite files
 * in the data directory (employees.db, audit.db, payroll.db) by default, or
 * the PostgreSQL database at `databaseUrl`, where each component keeps its
 * own tables. Both come as @omnibus/outbox's `Database`, so the outbox, the
 * relay, the inbox and the example's own queries run unchanged on either;
 * statements are written once with `?` placeholders (`sqlFor`).
 */
import { mkdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { migrate, postgres, sqlite, type Database, type Dialect } from "@omnibus/outbox"
import pg from "pg"

/** Each component's own data: a SQLite file of this name, or its tables in the PostgreSQL database. */
export type ComponentName = "employees" | "audit" | "payroll"

/** Where the data lives: PlatformConfig has both fields. */
export interface DataLocation {
  /** SQLite: the directory of the files. */
  readonly dataDir: string
  /** PostgreSQL (postgres://…); undefined for SQLite. */
  readonly databaseUrl: string | undefined
}

export interface Connection {
  readonly db: Database
  /**
   * Another handle on the same data, for the outbox relay: its own connection
   * on SQLite (a DatabaseSync has one transaction at a time); the same pool on PostgreSQL.
   */
  another(): Database
  /** Where the data is, for logs (no credentials). */
  readonly description: string
  close(): Promise<void>
}

export interface ConnectOptions {
  /** SQLite only: open the file read-only (it must exist), as tests and scripts look in. */
  readonly readOnly?: boolean
  /** Errors of idle PostgreSQL connections (a restarted server); without a handler they would crash the process. */
  readonly onError?: (error: Error) => void
}

const sqliteFile = (file: string, readOnly: boolean): DatabaseSync => {
  if (!readOnly) mkdirSync(dirname(file), { recursive: true })
  const db = new DatabaseSync(file, { readOnly })
  // busy_timeout first: two payroll processes open the same file at once, and switching to WAL needs a lock.
  db.exec("PRAGMA busy_timeout = 5000")
  // WAL lets readers (tests, the latency script) look while a writer writes.
  if (!readOnly) db.exec("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
  return db
}

/** Connects without creating anything. */
export const connectDatabase = (where: DataLocation, name: ComponentName, options: ConnectOptions = {}): Connection => {
  if (where.databaseUrl !== undefined) {
    const pool = new pg.Pool({ connectionString: where.databaseUrl })
    pool.on("error", options.onError ?? ((e) => console.error(`database: ${e.message}`)))
    const db = postgres(pool)
    const url = new URL(where.databaseUrl)
    return { db, another: () => db, description: `PostgreSQL ${url.host}${url.pathname}`, close: () => pool.end() }
  }
  const file = join(where.dataDir, `${name}.db`)
  const connections: Array<DatabaseSync> = []
  const open = (): Database => {
    const connection = sqliteFile(file, options.readOnly === true)
    connections.push(connection)
    return sqlite(connection)
  }
  return {
    db: open(),
    another: open,
    description: `SQLite ${file}`,
    close: async () => {
      for (const c of connections.splice(0)) c.close()
    },
  }
}

/**
 * Connects and creates what is missing: the outbox package's tables and the
 * component's own (`tables`, idempotent CREATE … IF NOT EXISTS). Processes
 * starting together (two payroll instances) migrate one at a time: on SQLite
 * through the write lock, on PostgreSQL through an advisory lock (two
 * concurrent CREATE TABLE IF NOT EXISTS of one table can fail there).
 */
export const openDatabase = async (
  where: DataLocation,
  name: ComponentName,
  tables: (dialect: Dialect) => ReadonlyArray<string>,
  options: ConnectOptions = {},
): Promise<Connection> => {
  const connection = connectDatabase(where, name, options)
  const { db } = connection
  try {
    await db.transaction(async (tx) => {
      if (db.dialect === "postgres") await tx.query("SELECT pg_advisory_xact_lock(hashtext('omnibus-employee-migrate'))")
      await migrate({ dialect: db.dialect, query: (statement) => tx.query(statement) })
      for (const statement of tables(db.dialect)) await tx.query(statement)
    })
  } catch (e) {
    await connection.close()
    throw e
  }
  return connection
}

/** Statements are written with `?`; PostgreSQL numbers its placeholders ($1, $2, …). */
export const sqlFor =
  (dialect: Dialect) =>
  (text: string): string => {
    if (dialect !== "postgres") return text
    let n = 0
    return text.replace(/\?/g, () => `$${++n}`)
  }

/** An auto-increment primary key, which gives rows their insertion order. */
export const identityColumn = (dialect: Dialect): string =>
  dialect === "postgres" ? "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"

type Row = Readonly<Record<string, unknown>>

/** Typed column readers: a schema drift fails loudly here instead of flowing on as a wrong type. */
export const textColumn = (row: Row, column: string): string => {
  const v = row[column]
  if (typeof v !== "string") throw new TypeError(`column ${column} is ${typeof v}, expected text`)
  return v
}

/** Integers: node:sqlite gives numbers, pg gives BIGINT as a string. */
export const integerColumn = (row: Row, column: string): number => {
  const v = row[column]
  const n = typeof v === "number" ? v : typeof v === "bigint" || typeof v === "string" ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n)) throw new TypeError(`column ${column} is ${JSON.stringify(String(v))}, expected an integer`)
  return n
}
