/**
 * `@omnibus/outbox`: the transactional outbox (publish in your database
 * transaction, a relay delivers to the bus) and inbox (record a message as
 * handled in the handler's transaction), on PostgreSQL, MySQL/MariaDB and
 * SQLite.
 */
export type { Database, Dialect, SqlClient, SqlResult, SqlValue } from "./sql.ts"
export { migrate, migrationSql, type TableOptions, type Tables } from "./tables.ts"
export { createOutbox, type Outbox, type OutboxOptions, type OutboxReceipt } from "./outbox.ts"
export { startRelay, type Relay, type RelayOptions, type OutboxStats } from "./relay.ts"
export { createInbox, inboxKey, type Inbox, type InboxOptions } from "./inbox.ts"
export { postgres, pgClient, type PgPool, type PgPoolClient, type PgQueryable } from "./postgres.ts"
export { mysql, mysqlClient, type MysqlPool, type MysqlPoolConnection, type MysqlQueryable } from "./mysql.ts"
export { sqlite, sqliteClient, type SqliteDatabase } from "./sqlite.ts"
