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
  /**
   * A handle whose connections the test can kill as a crash would (PostgreSQL, MySQL: the
   * server ends them and rolls back their transactions; SQLite: nothing to kill, a crashed
   * relay's lease runs out).
   */
  openKillable(): Promise<{ readonly db: Database; kill(): Promise<void> }>
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
  makePool: (name: string | undefined) => P,
  wrap: (pool: P) => Database,
  effectsDdl: (table: string) => string,
  killer: (admin: Database, db: Database, name: string) => Promise<() => Promise<void>>,
): Promise<TestDatabase> => {
  const prefix = uniquePrefix()
  const pools: Array<P> = []
  const open = (name?: string) => {
    const pool = makePool(name)
    pools.push(pool)
    return wrap(pool)
  }
  const admin = open()
  await migrate(admin, { tablePrefix: prefix })
  return {
    dialect,
    prefix,
    open: () => open(),
    openKillable: async () => {
      const name = `${prefix}killable${counter++}`
      const db = open(name)
      return { db, kill: await killer(admin, db, name) }
    },
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
  pooledDatabase<pg.Pool>(
    "postgres",
    (name) => new pg.Pool({ connectionString: process.env.OMNIBUS_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test", max: 4, application_name: name }),
    postgres,
    (table) => `CREATE TABLE ${table} (id VARCHAR(255) PRIMARY KEY)`,
    // Every connection of the pool carries its name: terminate them all.
    async (admin, _db, name) => async () => void (await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name])),
  )

const mysqlDatabase = (): Promise<TestDatabase> =>
  pooledDatabase<mysqlDriver.Pool>(
    "mysql",
    // A killable pool has one connection, whose id is known before the test starts.
    (name) => mysqlDriver.createPool({ uri: process.env.OMNIBUS_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test", connectionLimit: name === undefined ? 4 : 1 }),
    mysql,
    (table) => `CREATE TABLE ${table} (id VARCHAR(255) PRIMARY KEY) ENGINE=InnoDB`,
    async (admin, db) => {
      const id = Number((await db.query("SELECT CONNECTION_ID() AS id")).rows[0]!.id)
      return async () => void (await admin.query(`KILL ${id}`))
    },
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
    openKillable: () => Promise.resolve({ db: open(), kill: () => Promise.resolve() }),
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
