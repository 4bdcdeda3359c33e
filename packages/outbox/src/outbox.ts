/**
 * Writing messages into the outbox table inside the caller's own
 * transaction: the row commits or rolls back with the caller's other writes,
 * and the relay (relay.ts) publishes it afterwards. The message is validated
 * and encoded exactly as `bus.publish` would (same envelope: id, key,
 * headers, content type, correlation id), so a bad publish fails here, in
 * the transaction, not later in the relay.
 */
import { json, type Codec, type EventContract, type PublishOptions } from "@omnibus/core"
import { buildEnvelope } from "@omnibus/core/adapter"
import type { Dialect, SqlClient } from "./sql.ts"
import { placeholders, tablesFor, type TableOptions, type Tables } from "./tables.ts"

export interface OutboxOptions extends TableOptions {
  readonly dialect: Dialect
  /** Largest encoded payload accepted (default 1 MiB); keep it at or under your broker's limit, or the relay cannot publish the row. */
  readonly maxPayloadBytes?: number
}

export interface OutboxReceipt {
  /** The message id: the id consumers see, and the key they dedupe by. */
  readonly id: string
}

export interface Outbox {
  readonly dialect: Dialect
  readonly tables: Tables
  /**
   * Stores the message in the transaction `tx`. On SQLite the row is written
   * during the call (so it also works inside a synchronous transaction); on
   * PostgreSQL it also sends a NOTIFY that wakes the relays at commit.
   */
  publish<T>(tx: SqlClient, contract: EventContract<T>, payload: T, options?: PublishOptions): Promise<OutboxReceipt>
  publish(tx: SqlClient, routingKey: string, payload: unknown, options?: PublishOptions & { readonly codec?: Codec<unknown> }): Promise<OutboxReceipt>
}

const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

export const createOutbox = (options: OutboxOptions): Outbox => {
  const { dialect } = options
  const tables = tablesFor(options)
  const max = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES
  const insert = `INSERT INTO ${tables.outbox} (id, routing_key, message_key, payload, content_type, headers, correlation_id, created_at) VALUES (${placeholders(dialect, 8)})`
  const publish = (
    tx: SqlClient,
    keyOrContract: string | EventContract<unknown>,
    payload: unknown,
    publishOptions?: PublishOptions & { readonly codec?: Codec<unknown> },
  ): Promise<OutboxReceipt> => {
    const [key, codec] = typeof keyOrContract === "string" ? [keyOrContract, publishOptions?.codec ?? json] : [keyOrContract.key, keyOrContract.codec]
    const env = buildEnvelope(key, payload, codec, publishOptions, max)
    if (!("payload" in env)) return Promise.reject(env)
    // No await before the queries: they must be issued while the caller's transaction is open.
    const written = tx.query(insert, [
      env.id,
      env.routingKey,
      env.key ?? null,
      env.payload,
      env.contentType,
      JSON.stringify(env.headers),
      env.correlationId ?? null,
      env.timestamp,
    ])
    const notified = dialect === "postgres" ? tx.query("SELECT pg_notify($1, '')", [tables.channel]) : undefined
    return Promise.all([written, notified]).then(() => ({ id: env.id }))
  }
  return { dialect, tables, publish: publish as Outbox["publish"] }
}
