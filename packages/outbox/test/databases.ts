/**
 * The real databases the tests run against, each with tables under a prefix
 * unique to the test run (dropped afterwards): PostgreSQL and MariaDB on
 * this machine (scripts/databases.sh starts them), SQLite in a temp file.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import mysqlDriver from "mysql2/promise"
import pg from "pg"
import { migrate, mysql, postgres, sqlite, type Database, type Dialect, type SqlClient } from "../src/index.ts"
import { tablesFor } from "../src/tables.ts"

export interface TestDatabase {
  readonly dialect: Dialect
  readonly prefix: string
  /** A new handle with its own connections (one per relay or app, as in production). */
  open(): Database
  /** Creates a side-effect table `<prefix>effects (id)` for inbox tests. */
  effectsTable(): Promise<string>
  close(): Promise<void>
}

let counter = 0
const uniquePrefix = (): string => `t${process.pid}_${Date.now().toString(36)}_${counter++}_`

const dropAll = async (db: SqlClient, prefix: string): Promise<void> => {
  const t = tablesFor({ tablePrefix: prefix })
  for (const table of [t.outbox, t.inbox, t.lease, `${prefix}effects`]) await db.query(`DROP TABLE IF EXISTS ${table}`)
}

/** A test database over a pooled driver: `open` makes a new pool each call, all ended by close(). */
const pooledDatabase = async <P extends { end(): Promise<void> }>(
  dialect: Dialect,
  makePool: () => P,
  wrap: (pool: P) => Database,
  effectsDdl: (table: string) => string,
): Promise<TestDatabase> => {
  const prefix = uniquePrefix()
  const pools: Array<P> = []
  const open = () => {
    const pool = makePool()
    pools.push(pool)
    return wrap(pool)
  }
  const admin = open()
  await migrate(admin, { tablePrefix: prefix })
  return {
    dialect,
    prefix,
    open,
    effectsTable: async () => {
      await admin.query(effectsDdl(`${prefix}effects`))
      return `${prefix}effects`
    },
    close: async () => {
      await dropAll(admin, prefix)
      await Promise.all(pools.map((p) => p.end()))
    },
  }
}

const postgresDatabase = (): Promise<TestDatabase> =>
  pooledDatabase(
    "postgres",
    () => new pg.Pool({ connectionString: process.env.OMNIBUS_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test", max: 4 }),
    postgres,
    (table) => `CREATE TABLE ${table} (id VARCHAR(255) PRIMARY KEY)`,
  )

const mysqlDatabase = (): Promise<TestDatabase> =>
  pooledDatabase(
    "mysql",
    () => mysqlDriver.createPool({ uri: process.env.OMNIBUS_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test", connectionLimit: 4 }),
    mysql,
    (table) => `CREATE TABLE ${table} (id VARCHAR(255) PRIMARY KEY) ENGINE=InnoDB`,
  )

const sqliteDatabase = async (): Promise<TestDatabase> => {
  const prefix = uniquePrefix()
  const dir = mkdtempSync(join(tmpdir(), "omnibus-outbox-"))
  const file = join(dir, "test.db")
  const connections: Array<DatabaseSync> = []
  const open = () => {
    const connection = new DatabaseSync(file)
    connection.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000")
    connections.push(connection)
    return sqlite(connection)
  }
  const admin = open()
  await migrate(admin, { tablePrefix: prefix })
  return {
    dialect: "sqlite",
    prefix,
    open,
    effectsTable: async () => {
      await admin.query(`CREATE TABLE ${prefix}effects (id TEXT PRIMARY KEY)`)
      return `${prefix}effects`
    },
    close: async () => {
      for (const c of connections) c.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const DIALECTS: ReadonlyArray<{ readonly name: Dialect; readonly make: () => Promise<TestDatabase> }> = [
  { name: "sqlite", make: sqliteDatabase },
  { name: "postgres", make: postgresDatabase },
  { name: "mysql", make: mysqlDatabase },
]

/** Resolves once `condition` holds; fails with `what` after `timeoutMs`. */
export const eventually = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
