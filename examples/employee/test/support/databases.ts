/** Read-only looks into the platform's SQLite files, as an operator would check them. */
import { DatabaseSync } from "node:sqlite"
import { join } from "node:path"
import { textColumn } from "../../src/sqlite.ts"

const read = <T>(dataDir: string, file: string, f: (db: DatabaseSync) => T): T => {
  const db = new DatabaseSync(join(dataDir, file), { readOnly: true })
  try {
    return f(db)
  } finally {
    db.close()
  }
}

export interface PersonRow {
  readonly firstName: string
  readonly lastName: string
}

const person = (row: Record<string, import("node:sqlite").SQLOutputValue> | undefined): PersonRow | undefined =>
  row === undefined ? undefined : { firstName: textColumn(row, "first_name"), lastName: textColumn(row, "last_name") }

export const payrollRow = (dataDir: string, guid: string): PersonRow | undefined =>
  read(dataDir, "payroll.db", (db) => person(db.prepare("SELECT first_name, last_name FROM payroll WHERE guid = ?").get(guid)))

export const serviceRow = (dataDir: string, guid: string): PersonRow | undefined =>
  read(dataDir, "employees.db", (db) => person(db.prepare("SELECT first_name, last_name FROM employees WHERE guid = ?").get(guid)))

export const employeeCount = (dataDir: string): number =>
  read(dataDir, "employees.db", (db) => Number(db.prepare("SELECT count(*) AS n FROM employees").get()?.["n"]))

/** Routing keys the audit log recorded for an employee, in the order received. */
export const auditedEvents = (dataDir: string, guid: string): Array<string> =>
  read(dataDir, "audit.db", (db) => db.prepare("SELECT routing_key FROM audit_log WHERE guid = ? ORDER BY received_at, rowid").all(guid).map((r) => textColumn(r, "routing_key")))

/** Which payroll instances handled events (competing consumers share the work). */
export const payrollInstances = (dataDir: string): Array<string> =>
  read(dataDir, "payroll.db", (db) => db.prepare("SELECT DISTINCT instance FROM payroll_inbox ORDER BY instance").all().map((r) => textColumn(r, "instance")))
