/** Table names, and the SQL each dialect needs to create them (shipped as migrations). */
import type { Dialect } from "./sql.ts"

export interface TableOptions {
  /** Prepended to every table name (letters, digits, `_`; may include a `schema.` on PostgreSQL and MySQL). Default "omnibus_". */
  readonly tablePrefix?: string
}

export interface Tables {
  readonly outbox: string
  readonly inbox: string
  readonly lease: string
  /** The NOTIFY channel of the outbox on PostgreSQL. */
  readonly channel: string
}

const PREFIX = /^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z0-9_]*$/

export const tablesFor = (options: TableOptions | undefined): Tables => {
  const prefix = options?.tablePrefix ?? "omnibus_"
  // Table names are spliced into SQL: only plain identifiers are allowed.
  if (!PREFIX.test(prefix)) throw new TypeError(`tablePrefix ${JSON.stringify(prefix)} must be letters, digits and _ (optionally after "schema.")`)
  return { outbox: `${prefix}outbox`, inbox: `${prefix}inbox`, lease: `${prefix}outbox_lease`, channel: `${prefix.replace(".", "_")}outbox` }
}

/** The name of an index on a table: without the schema, which PostgreSQL and MySQL take from the table. */
const indexName = (table: string, suffix: string): string => `${table.slice(table.indexOf(".") + 1)}_${suffix}`

/** Idempotent statements (CREATE … IF NOT EXISTS) creating the outbox, inbox and lease tables. */
export const migrationSql = (dialect: Dialect, options?: TableOptions): ReadonlyArray<string> => {
  const t = tablesFor(options)
  switch (dialect) {
    case "postgres":
      return [
        `CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id             VARCHAR(255) NOT NULL UNIQUE,
  routing_key    TEXT NOT NULL,
  message_key    VARCHAR(700),
  payload        BYTEA NOT NULL,
  content_type   VARCHAR(255) NOT NULL,
  headers        TEXT NOT NULL,
  correlation_id TEXT,
  created_at     BIGINT NOT NULL,
  sent_at        BIGINT
)`,
        `CREATE INDEX IF NOT EXISTS ${indexName(t.outbox, "unsent")} ON ${t.outbox} (seq) WHERE sent_at IS NULL`,
        `CREATE INDEX IF NOT EXISTS ${indexName(t.outbox, "key_unsent")} ON ${t.outbox} (message_key, seq) WHERE sent_at IS NULL`,
        `CREATE INDEX IF NOT EXISTS ${indexName(t.outbox, "sent")} ON ${t.outbox} (sent_at) WHERE sent_at IS NOT NULL`,
        `CREATE TABLE IF NOT EXISTS ${t.inbox} (id VARCHAR(512) PRIMARY KEY, handled_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
        `CREATE INDEX IF NOT EXISTS ${indexName(t.inbox, "expires")} ON ${t.inbox} (expires_at)`,
        `CREATE TABLE IF NOT EXISTS ${t.lease} (name VARCHAR(100) PRIMARY KEY, owner VARCHAR(100) NOT NULL, expires_at BIGINT NOT NULL)`,
      ]
    case "mysql":
      // MySQL has no partial indexes and no CREATE INDEX IF NOT EXISTS: indexes live in CREATE TABLE.
      return [
        `CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  id             VARCHAR(255) NOT NULL,
  routing_key    TEXT NOT NULL,
  message_key    VARCHAR(700) NULL,
  payload        LONGBLOB NOT NULL,
  content_type   VARCHAR(255) NOT NULL,
  headers        TEXT NOT NULL,
  correlation_id TEXT NULL,
  created_at     BIGINT NOT NULL,
  sent_at        BIGINT NULL,
  UNIQUE KEY ${indexName(t.outbox, "id")} (id),
  KEY ${indexName(t.outbox, "unsent")} (sent_at, seq),
  KEY ${indexName(t.outbox, "key")} (message_key, sent_at, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        `CREATE TABLE IF NOT EXISTS ${t.inbox} (
  id         VARCHAR(512) NOT NULL PRIMARY KEY,
  handled_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  KEY ${indexName(t.inbox, "expires")} (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        `CREATE TABLE IF NOT EXISTS ${t.lease} (name VARCHAR(100) NOT NULL PRIMARY KEY, owner VARCHAR(100) NOT NULL, expires_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      ]
    case "sqlite":
      return [
        `CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  routing_key    TEXT NOT NULL,
  message_key    TEXT,
  payload        BLOB NOT NULL,
  content_type   TEXT NOT NULL,
  headers        TEXT NOT NULL,
  correlation_id TEXT,
  created_at     INTEGER NOT NULL,
  sent_at        INTEGER
)`,
        `CREATE INDEX IF NOT EXISTS ${t.outbox}_unsent ON ${t.outbox} (seq) WHERE sent_at IS NULL`,
        `CREATE INDEX IF NOT EXISTS ${t.outbox}_sent ON ${t.outbox} (sent_at) WHERE sent_at IS NOT NULL`,
        `CREATE TABLE IF NOT EXISTS ${t.inbox} (id TEXT PRIMARY KEY, handled_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`,
        `CREATE INDEX IF NOT EXISTS ${t.inbox}_expires ON ${t.inbox} (expires_at)`,
        `CREATE TABLE IF NOT EXISTS ${t.lease} (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
      ]
  }
}

/** Creates the tables (and their indexes) if they do not exist yet. Safe to run on every start. */
export const migrate = async (db: { readonly dialect: Dialect; query(sql: string): Promise<unknown> }, options?: TableOptions): Promise<void> => {
  for (const statement of migrationSql(db.dialect, options)) await db.query(statement)
}

/** The dialect's placeholder for the n-th (1-based) parameter. */
export const placeholder = (dialect: Dialect, n: number): string => (dialect === "postgres" ? `$${n}` : "?")

/** `count` placeholders from `from` on, comma-separated. */
export const placeholders = (dialect: Dialect, count: number, from = 1): string =>
  Array.from({ length: count }, (_, i) => placeholder(dialect, from + i)).join(", ")

/** An INSERT that does nothing when the primary key exists (rowCount 0). */
export const insertIgnore = (dialect: Dialect, table: string, columns: string, values: string): string => {
  switch (dialect) {
    case "postgres":
      return `INSERT INTO ${table} (${columns}) VALUES (${values}) ON CONFLICT DO NOTHING`
    case "mysql":
      return `INSERT IGNORE INTO ${table} (${columns}) VALUES (${values})`
    case "sqlite":
      return `INSERT OR IGNORE INTO ${table} (${columns}) VALUES (${values})`
  }
}
