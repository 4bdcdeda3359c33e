/**
 * The service's tables: employees, and a version per employee. Every write
 * puts its event into the outbox (@omnibus/outbox) in the same transaction,
 * so an employee row and its event commit or roll back together; the relay
 * (index.ts) publishes them afterwards. Runs on SQLite and PostgreSQL alike
 * (../database.ts).
 */
import { createOutbox, type Database, type Dialect, type Outbox, type SqlClient } from "@omnibus/outbox"
import { events, type EmployeeMessage, type EmployeeMessageRequest } from "../contracts/employee.generated.ts"
import { identityColumn, integerColumn, sqlFor, textColumn } from "../database.ts"
import { EmployeeError } from "./errors.ts"

export interface Employee {
  readonly guid: string
  readonly firstName: string
  readonly lastName: string
}

/**
 * Each event carries the employee's version (1, 2, … per guid, also across a delete and a re-create):
 * competing consumers may apply changes out of order, and skip one older than what they applied.
 */
export const EMPLOYEE_VERSION_HEADER = "x-employee-version"

export const employeeTables = (dialect: Dialect): ReadonlyArray<string> => [
  `CREATE TABLE IF NOT EXISTS employees (
  seq        ${identityColumn(dialect)},
  guid       TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
)`,
  // Kept after a delete, so a re-created guid goes on counting.
  `CREATE TABLE IF NOT EXISTS employee_versions (
  guid    TEXT PRIMARY KEY,
  version BIGINT NOT NULL
)`,
]

const MAX_NAME = 200
const MAX_GUID = 64

/** The event each write publishes. */
const EVENT = { create: events.employeeCreated, update: events.employeeUpdated, destroy: events.employeeDestroyed } as const

const required = (field: string, v: string | undefined, max: number): string => {
  if (v === undefined || v.trim().length === 0) throw new EmployeeError("invalid", `${field} can't be blank`)
  if (v.length > max) throw new EmployeeError("invalid", `${field} is too long (at most ${max} characters)`)
  return v // stored verbatim: what users type is what they get back
}

const toEmployee = (r: Readonly<Record<string, unknown>>): Employee => ({
  guid: textColumn(r, "guid"),
  firstName: textColumn(r, "first_name"),
  lastName: textColumn(r, "last_name"),
})

const COLUMNS = "guid, first_name, last_name"

/** The store's fixed statements, in the dialect's placeholders. */
const statementsFor = (sql: (text: string) => string) => ({
  // ON CONFLICT instead of a look first: two creates of one guid at once cannot both pass.
  insert: sql("INSERT INTO employees (guid, first_name, last_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guid) DO NOTHING"),
  // Fields left out (NULL) keep their values, like a Rails `update` with some params.
  update: sql(`UPDATE employees SET first_name = COALESCE(?, first_name), last_name = COALESCE(?, last_name), updated_at = ? WHERE guid = ? RETURNING ${COLUMNS}`),
  destroy: sql(`DELETE FROM employees WHERE guid = ? RETURNING ${COLUMNS}`),
  // Also the lock that orders two writes of one employee: the later waits for the earlier's commit.
  nextVersion: sql("INSERT INTO employee_versions (guid, version) VALUES (?, 1) ON CONFLICT (guid) DO UPDATE SET version = employee_versions.version + 1 RETURNING version"),
})

export class EmployeeStore {
  private readonly db: Database
  private readonly outbox: Outbox
  private readonly sql: (text: string) => string
  private readonly statements: ReturnType<typeof statementsFor>

  /** `db` must have the outbox's and employeeTables' tables (database.ts openDatabase). */
  constructor(db: Database) {
    this.db = db
    this.outbox = createOutbox({ dialect: db.dialect })
    this.sql = sqlFor(db.dialect)
    this.statements = statementsFor(this.sql)
  }

  /** Like the book's scopes: each given field narrows the result; an empty request lists everyone. */
  async search(request: EmployeeMessageRequest): Promise<Array<Employee>> {
    const fields: ReadonlyArray<readonly [string, string | undefined]> = [["guid", request.guid], ["first_name", request.firstName], ["last_name", request.lastName]]
    const given = fields.flatMap(([column, value]) => (value === undefined ? [] : [{ column, value }]))
    const where = given.length === 0 ? "" : ` WHERE ${given.map((g) => `${g.column} = ?`).join(" AND ")}`
    const r = await this.db.query(this.sql(`SELECT ${COLUMNS} FROM employees${where} ORDER BY seq`), given.map((g) => g.value))
    return r.rows.map(toEmployee)
  }

  create(input: EmployeeMessage): Promise<Employee> {
    const e: Employee = {
      guid: required("Guid", input.guid, MAX_GUID),
      firstName: required("First name", input.firstName, MAX_NAME),
      lastName: required("Last name", input.lastName, MAX_NAME),
    }
    return this.db.transaction(async (tx) => {
      const now = new Date().toISOString()
      const inserted = await tx.query(this.statements.insert, [e.guid, e.firstName, e.lastName, now, now])
      if (inserted.rowCount === 0) throw new EmployeeError("exists", `an employee with guid ${e.guid} already exists`)
      await this.publish(tx, "create", e)
      return e
    })
  }

  /** Fields left out keep their values. */
  update(input: EmployeeMessage): Promise<Employee> {
    const guid = required("Guid", input.guid, MAX_GUID)
    const firstName = input.firstName === undefined ? null : required("First name", input.firstName, MAX_NAME)
    const lastName = input.lastName === undefined ? null : required("Last name", input.lastName, MAX_NAME)
    return this.db.transaction(async (tx) => {
      const row = (await tx.query(this.statements.update, [firstName, lastName, new Date().toISOString(), guid])).rows[0]
      if (row === undefined) throw new EmployeeError("not_found", `no employee with guid ${guid}`)
      const e = toEmployee(row)
      await this.publish(tx, "update", e)
      return e
    })
  }

  /** Returns the employee as it was. */
  destroy(input: EmployeeMessage): Promise<Employee> {
    const guid = required("Guid", input.guid, MAX_GUID)
    return this.db.transaction(async (tx) => {
      const row = (await tx.query(this.statements.destroy, [guid])).rows[0]
      if (row === undefined) throw new EmployeeError("not_found", `no employee with guid ${guid}`)
      const old = toEmployee(row)
      await this.publish(tx, "destroy", old)
      return old
    })
  }

  /** The write's event, into the outbox in the write's transaction `tx`. */
  private async publish(tx: SqlClient, write: keyof typeof EVENT, e: Employee): Promise<void> {
    const version = integerColumn((await tx.query(this.statements.nextVersion, [e.guid])).rows[0] ?? {}, "version")
    await this.outbox.publish(tx, EVENT[write], e, { key: e.guid, headers: { [EMPLOYEE_VERSION_HEADER]: String(version) } })
  }
}
