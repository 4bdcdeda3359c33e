/**
 * Looks into the platform's tables as an operator would: its SQLite files
 * (read-only) or its PostgreSQL database. Connections are opened on first use
 * and kept until close(), so polling a table is cheap.
 */
import type { SqlValue } from "@omnibus/outbox"
import { connectDatabase, integerColumn, sqlFor, textColumn, type ComponentName, type Connection, type DataLocation } from "../../src/database.ts"

export interface PersonRow {
  readonly firstName: string
  readonly lastName: string
}

export interface OutboxRow {
  readonly id: string
  readonly routingKey: string
  readonly messageKey: string | undefined
  /** When the service wrote it: the published message's timestamp. */
  readonly createdAt: number
  readonly sent: boolean
}

type Row = Readonly<Record<string, unknown>>

const person = (row: Row | undefined): PersonRow | undefined =>
  row === undefined ? undefined : { firstName: textColumn(row, "first_name"), lastName: textColumn(row, "last_name") }

export const openReaders = (where: DataLocation) => {
  const connections = new Map<ComponentName, Connection>()
  const rows = async (name: ComponentName, text: string, params: ReadonlyArray<SqlValue> = []): Promise<ReadonlyArray<Row>> => {
    let c = connections.get(name)
    if (c === undefined) {
      c = connectDatabase(where, name, { readOnly: true })
      connections.set(name, c)
    }
    return (await c.db.query(sqlFor(c.db.dialect)(text), params)).rows
  }
  return {
    payrollRow: async (guid: string): Promise<PersonRow | undefined> => person((await rows("payroll", "SELECT first_name, last_name FROM payroll WHERE guid = ?", [guid]))[0]),
    serviceRow: async (guid: string): Promise<PersonRow | undefined> => person((await rows("employees", "SELECT first_name, last_name FROM employees WHERE guid = ?", [guid]))[0]),
    employeeCount: async (): Promise<number> => integerColumn((await rows("employees", "SELECT count(*) AS n FROM employees"))[0] ?? {}, "n"),
    /** Routing keys the audit log recorded for an employee, in the order received. */
    auditedEvents: async (guid: string): Promise<Array<string>> =>
      (await rows("audit", "SELECT routing_key FROM audit_log WHERE guid = ? ORDER BY received_at, message_id", [guid])).map((r) => textColumn(r, "routing_key")),
    /** Which payroll instances applied the last change of some employee (competing consumers share the work). */
    payrollInstances: async (): Promise<Array<string>> =>
      (await rows("payroll", "SELECT DISTINCT instance FROM payroll ORDER BY instance")).map((r) => textColumn(r, "instance")),
    /** The service's outbox in write order (sent rows stay a day, as a record). */
    outboxRows: async (): Promise<Array<OutboxRow>> =>
      (await rows("employees", "SELECT id, routing_key, message_key, created_at, sent_at FROM omnibus_outbox ORDER BY seq")).map((r) => ({
        id: textColumn(r, "id"),
        routingKey: textColumn(r, "routing_key"),
        messageKey: r["message_key"] === null ? undefined : textColumn(r, "message_key"),
        createdAt: integerColumn(r, "created_at"),
        sent: r["sent_at"] !== null,
      })),
    close: async (): Promise<void> => {
      for (const c of connections.values()) await c.close()
      connections.clear()
    },
  }
}

export type Readers = ReturnType<typeof openReaders>
