/** What the pooled drivers (pg, mysql2) share: the transaction lifecycle and parameter conversion. */
import type { SqlValue } from "./sql.ts"

export interface PooledConnection {
  begin(): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
  /** `broken`: the connection could not roll back and must not go back to the pool. */
  release(broken: boolean): void
}

/** Runs `fn` between BEGIN and COMMIT on a pooled connection; rolls back when it throws. */
export const inTransaction = async <T>(connection: PooledConnection, fn: () => Promise<T>): Promise<T> => {
  let broken = false
  try {
    await connection.begin()
    const result = await fn()
    await connection.commit()
    return result
  } catch (e) {
    try {
      await connection.rollback()
    } catch {
      broken = true
    }
    throw e
  } finally {
    connection.release(broken)
  }
}

/** Both drivers send a Uint8Array that is not a Buffer wrongly, and have no encoding for bigint. */
export const toDriverValue = (v: SqlValue): unknown =>
  v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : typeof v === "bigint" ? v.toString() : v
