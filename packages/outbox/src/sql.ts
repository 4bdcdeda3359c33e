/**
 * The small database interface the outbox and inbox run on. Any query layer
 * fits it (pg, mysql2, node:sqlite, Kysely or Drizzle raw queries): one
 * function that runs a statement with positional parameters and returns the
 * rows it produced and the number of rows it changed.
 */
export type Dialect = "postgres" | "mysql" | "sqlite"

export type SqlValue = string | number | bigint | Uint8Array | null

export interface SqlResult {
  readonly rows: ReadonlyArray<Readonly<Record<string, unknown>>>
  /** Rows inserted, updated or deleted by a write (0 for a read). */
  readonly rowCount: number
}

/**
 * A connection or an open transaction. Placeholders are the dialect's own:
 * `$1, $2` on PostgreSQL, `?` on MySQL/MariaDB and SQLite.
 */
export interface SqlClient {
  query(sql: string, params?: ReadonlyArray<SqlValue>): Promise<SqlResult>
}

/** A database the relay and the inbox can open transactions on. */
export interface Database extends SqlClient {
  readonly dialect: Dialect
  /** Runs `fn` in a transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>
  /**
   * PostgreSQL only: calls `onNotify` on each NOTIFY on `channel`, and `onLost` if the
   * listening connection fails; resolves to a function that stops listening.
   */
  listen?(channel: string, onNotify: () => void, onLost: (error: Error) => void): Promise<() => Promise<void>>
}
