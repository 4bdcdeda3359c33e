/**
 * Payroll's table and the rules for changing it, apart from the bus so the
 * rules can be checked directly. Upsert on employee.created/updated, delete
 * on employee.destroyed, never an older change over a newer one:
 * competing instances process events concurrently, so an older change of an
 * employee may arrive after a newer one; payroll_versions keeps the last
 * applied version per employee (the service's x-employee-version header,
 * also after a delete) and older changes are skipped.
 *
 * Each event is applied at most once by the inbox around `apply`
 * (payroll.ts): the ledger's writes and the inbox mark share `tx`.
 */
import { PermanentError } from "@omnibus/core"
import type { Dialect, SqlClient } from "@omnibus/outbox"
import type { EmployeeMessage } from "../contracts/employee.generated.ts"
import { sqlFor } from "../database.ts"
import { EMPLOYEE_VERSION_HEADER } from "../service/store.ts"

export const payrollTables = (): ReadonlyArray<string> => [
  `CREATE TABLE IF NOT EXISTS payroll (
  guid       TEXT PRIMARY KEY,
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  instance   TEXT NOT NULL,  -- which payroll instance applied the last change
  updated_at BIGINT NOT NULL
)`,
  `CREATE TABLE IF NOT EXISTS payroll_versions (
  guid    TEXT PRIMARY KEY,
  version BIGINT NOT NULL
)`,
]

export interface PayrollEvent {
  readonly id: string
  readonly routingKey: string
  readonly headers: Readonly<Record<string, string>>
  readonly payload: EmployeeMessage
}

export type PayrollOutcome = "on payroll" | "off payroll" | "stale"

const statementsFor = (sql: (text: string) => string) => ({
  // Applies the version only if it is newer, in one statement: two instances cannot both pass a check.
  advance: sql(
    "INSERT INTO payroll_versions (guid, version) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET version = excluded.version WHERE payroll_versions.version < excluded.version",
  ),
  upsert: sql(
    `INSERT INTO payroll (guid, first_name, last_name, instance, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (guid) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, instance = excluded.instance, updated_at = excluded.updated_at`,
  ),
  remove: sql("DELETE FROM payroll WHERE guid = ?"),
})

export class PayrollLedger {
  private readonly instance: string
  private readonly statements: ReturnType<typeof statementsFor>

  constructor(dialect: Dialect, instance: string) {
    this.instance = instance
    this.statements = statementsFor(sqlFor(dialect))
  }

  /** Applies one event in `tx`; a PermanentError means retrying cannot help (the bus dead-letters it). */
  async apply(tx: SqlClient, m: PayrollEvent): Promise<PayrollOutcome> {
    const { guid, firstName, lastName } = m.payload
    const upsert = m.routingKey === "employee.created" || m.routingKey === "employee.updated"
    if (!upsert && m.routingKey !== "employee.destroyed") throw new PermanentError(`payroll does not handle ${m.routingKey}`, { code: "unexpected_event" })
    if (guid === undefined) throw new PermanentError(`${m.routingKey} ${m.id} has no guid`, { code: "invalid" })
    if (upsert && (firstName === undefined || lastName === undefined)) throw new PermanentError(`${m.routingKey} ${m.id} lacks a name`, { code: "invalid" })
    const versionHeader = m.headers[EMPLOYEE_VERSION_HEADER]
    const version = versionHeader === undefined ? undefined : Number(versionHeader)
    if (version !== undefined && !Number.isSafeInteger(version)) throw new PermanentError(`${m.id}: bad ${EMPLOYEE_VERSION_HEADER} ${versionHeader}`, { code: "invalid" })
    // An event without a version (another producer) is applied as it comes.
    if (version !== undefined && (await tx.query(this.statements.advance, [guid, version])).rowCount === 0) return "stale"
    if (upsert) {
      await tx.query(this.statements.upsert, [guid, firstName ?? "", lastName ?? "", this.instance, Date.now()])
      return "on payroll"
    }
    await tx.query(this.statements.remove, [guid])
    return "off payroll"
  }
}
