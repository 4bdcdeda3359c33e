/**
 * MySQL and MariaDB through `mysql2/promise`. The types below are the parts
 * of its Pool and PoolConnection used here, so this package does not need
 * `mysql2` to compile; pass a real `mysql.createPool(...)` from "mysql2/promise".
 */
import type { Database, SqlClient, SqlResult, SqlValue } from "./sql.ts"
import { inTransaction, toDriverValue } from "./transaction.ts"

export interface MysqlQueryable {
  query(sql: string, values?: Array<unknown>): Promise<[unknown, unknown]>
}

export interface MysqlPoolConnection extends MysqlQueryable {
  beginTransaction(): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
  release(): void
  destroy(): void
}

export interface MysqlPool extends MysqlQueryable {
  getConnection(): Promise<MysqlPoolConnection>
}

/** Wraps a mysql2/promise connection or pool (for example your open transaction's connection) as a SqlClient. */
export const mysqlClient = (connection: MysqlQueryable): SqlClient => ({
  query: async (sql: string, params: ReadonlyArray<SqlValue> = []): Promise<SqlResult> => {
    const [result] = await connection.query(sql, params.map(toDriverValue))
    // A read answers rows; a write answers a ResultSetHeader with affectedRows.
    if (Array.isArray(result)) return { rows: result as Array<Record<string, unknown>>, rowCount: 0 }
    const affected = (result as { affectedRows?: unknown }).affectedRows
    return { rows: [], rowCount: typeof affected === "number" ? affected : 0 }
  },
})

/** A MySQL/MariaDB Database over a mysql2/promise pool; its transactions run at READ COMMITTED. */
export const mysql = (pool: MysqlPool): Database => ({
  dialect: "mysql",
  query: mysqlClient(pool).query,
  async transaction(fn) {
    const connection = await pool.getConnection()
    return inTransaction(
      {
        // READ COMMITTED, as on PostgreSQL: REPEATABLE READ's gap locks make the relay's
        // locking reads and deletes deadlock with concurrent inserts into the outbox.
        begin: async () => {
          await connection.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
          await connection.beginTransaction()
        },
        commit: () => connection.commit(),
        rollback: () => connection.rollback(),
        release: (broken) => (broken ? connection.destroy() : connection.release()),
      },
      () => fn(mysqlClient(connection)),
    )
  },
})
