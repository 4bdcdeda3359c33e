/**
 * PostgreSQL through `pg` (node-postgres). The types below are the parts of
 * `pg.Pool` and `pg.PoolClient` used here, so this package does not need
 * `pg`'s types to compile; pass a real `new pg.Pool(...)`.
 */
import type { Database, SqlClient, SqlResult, SqlValue } from "./sql.ts"
import { inTransaction, toDriverValue } from "./transaction.ts"

export interface PgQueryable {
  query(text: string, values?: Array<unknown>): Promise<{ rows: Array<Record<string, unknown>>; rowCount: number | null }>
}

export interface PgPoolClient extends PgQueryable {
  release(destroy?: boolean | Error): void
  on(event: "notification", listener: (message: { channel: string }) => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
  removeListener(event: "error", listener: (error: Error) => void): unknown
}

export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>
}


/** Wraps a pg client or pool (for example your open transaction's client) as a SqlClient. */
export const pgClient = (client: PgQueryable): SqlClient => ({
  query: async (sql: string, params: ReadonlyArray<SqlValue> = []): Promise<SqlResult> => {
    const r = await client.query(sql, params.map(toDriverValue))
    return { rows: r.rows, rowCount: r.rowCount ?? 0 }
  },
})

/** A PostgreSQL Database over a `pg.Pool`: transactions on a pooled client, LISTEN on a dedicated one. */
export const postgres = (pool: PgPool): Database => ({
  dialect: "postgres",
  query: pgClient(pool).query,
  async transaction(fn) {
    const client = await pool.connect()
    // A checked-out client whose connection dies between queries (the relay awaiting the broker)
    // emits "error": without a listener that would crash the process. The next query fails instead.
    let lost = false
    const onLost = () => {
      lost = true
    }
    client.on("error", onLost)
    return inTransaction(
      {
        begin: async () => void (await client.query("BEGIN")),
        commit: async () => void (await client.query("COMMIT")),
        rollback: async () => void (await client.query("ROLLBACK")),
        release: (broken) => {
          client.removeListener("error", onLost)
          client.release(broken || lost)
        },
      },
      () => fn(pgClient(client)),
    )
  },
  async listen(channel, onNotify, onLost) {
    const client = await pool.connect()
    let released = false
    const release = () => {
      if (released) return
      released = true
      // Destroyed rather than reused: a pooled client must not stay subscribed.
      client.release(true)
    }
    client.on("notification", (m) => {
      if (m.channel === channel) onNotify()
    })
    // Without a listener, an error on a checked-out client would crash the process.
    client.on("error", (e) => {
      release()
      onLost(e)
    })
    try {
      await client.query(`LISTEN "${channel}"`)
    } catch (e) {
      release()
      throw e
    }
    return async () => release()
  },
})
