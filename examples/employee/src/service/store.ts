/**
 * The service's SQLite database: employees, and the outbox of events to
 * publish. Every write puts its event in the outbox in the same transaction,
 * so an employee row and its event commit or roll back together; the relay
 * (outbox.ts) publishes them afterwards.
 */
import type { DatabaseSync, SQLOutputValue } from "node:sqlite"
import { newMessageId } from "@omnibus/core/adapter"
import { events, type EmployeeMessage, type EmployeeMessageRequest } from "../contracts/employee.generated.ts"
import { blobColumn, intColumn, textColumn, transaction } from "../sqlite.ts"
import { EmployeeError } from "./errors.ts"

export interface Employee {
  readonly guid: string
  readonly firstName: string
  readonly lastName: string
}

export interface OutboxRow {
  readonly seq: number
  readonly id: string
  readonly routingKey: string
  readonly messageKey: string
  readonly payload: Uint8Array
  readonly contentType: string
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS employees (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  guid       TEXT NOT NULL UNIQUE,
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- publish order
  id          TEXT NOT NULL UNIQUE,              -- the message id on the bus (consumers dedupe by it)
  routing_key TEXT NOT NULL,
  message_key TEXT NOT NULL,                     -- ordering key: the employee's guid
  payload     BLOB NOT NULL,                     -- protobuf bytes, exactly what is published
  content_type TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  sent_at     INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
`

const MAX_NAME = 200
const MAX_GUID = 64

/** The event each write publishes. */
const EVENT = { create: events.employeeCreated, update: events.employeeUpdated, destroy: events.employeeDestroyed } as const

const required = (field: string, v: string | undefined, max: number): string => {
  if (v === undefined || v.trim().length === 0) throw new EmployeeError("invalid", `${field} can't be blank`)
  if (v.length > max) throw new EmployeeError("invalid", `${field} is too long (at most ${max} characters)`)
  return v // stored verbatim: what users type is what they get back
}

const toEmployee = (r: Record<string, SQLOutputValue>): Employee => ({
  guid: textColumn(r, "guid"),
  firstName: textColumn(r, "first_name"),
  lastName: textColumn(r, "last_name"),
})

export class EmployeeStore {
  readonly db: DatabaseSync

  constructor(db: DatabaseSync) {
    this.db = db
    db.exec(SCHEMA)
  }

  /** Like the book's scopes: each given field narrows the result; an empty request lists everyone. */
  search(request: EmployeeMessageRequest): Array<Employee> {
    const rows = this.db
      .prepare(
        `SELECT guid, first_name, last_name FROM employees
         WHERE (:guid IS NULL OR guid = :guid)
           AND (:first IS NULL OR first_name = :first)
           AND (:last IS NULL OR last_name = :last)
         ORDER BY seq`,
      )
      .all({ guid: request.guid ?? null, first: request.firstName ?? null, last: request.lastName ?? null })
    return rows.map(toEmployee)
  }

  find(guid: string): Employee | undefined {
    const row = this.db.prepare("SELECT guid, first_name, last_name FROM employees WHERE guid = ?").get(guid)
    return row === undefined ? undefined : toEmployee(row)
  }

  create(input: EmployeeMessage): Employee {
    const e: Employee = {
      guid: required("Guid", input.guid, MAX_GUID),
      firstName: required("First name", input.firstName, MAX_NAME),
      lastName: required("Last name", input.lastName, MAX_NAME),
    }
    return transaction(this.db, () => {
      if (this.find(e.guid)) throw new EmployeeError("exists", `an employee with guid ${e.guid} already exists`)
      const now = new Date().toISOString()
      this.db.prepare("INSERT INTO employees (guid, first_name, last_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run(e.guid, e.firstName, e.lastName, now, now)
      this.enqueue("create", e)
      return e
    })
  }

  /** Fields left out keep their values (like a Rails `update` with some params). */
  update(input: EmployeeMessage): Employee {
    const guid = required("Guid", input.guid, MAX_GUID)
    return transaction(this.db, () => {
      const old = this.find(guid)
      if (!old) throw new EmployeeError("not_found", `no employee with guid ${guid}`)
      const e: Employee = {
        guid,
        firstName: input.firstName === undefined ? old.firstName : required("First name", input.firstName, MAX_NAME),
        lastName: input.lastName === undefined ? old.lastName : required("Last name", input.lastName, MAX_NAME),
      }
      this.db.prepare("UPDATE employees SET first_name = ?, last_name = ?, updated_at = ? WHERE guid = ?").run(e.firstName, e.lastName, new Date().toISOString(), guid)
      this.enqueue("update", e)
      return e
    })
  }

  /** Returns the employee as it was. */
  destroy(input: EmployeeMessage): Employee {
    const guid = required("Guid", input.guid, MAX_GUID)
    return transaction(this.db, () => {
      const old = this.find(guid)
      if (!old) throw new EmployeeError("not_found", `no employee with guid ${guid}`)
      this.db.prepare("DELETE FROM employees WHERE guid = ?").run(guid)
      this.enqueue("destroy", old)
      return old
    })
  }

  /** Oldest unpublished events first. */
  unsent(limit: number): Array<OutboxRow> {
    const rows = this.db.prepare("SELECT seq, id, routing_key, message_key, payload, content_type FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?").all(limit)
    return rows.map((r) => ({
      seq: intColumn(r, "seq"),
      id: textColumn(r, "id"),
      routingKey: textColumn(r, "routing_key"),
      messageKey: textColumn(r, "message_key"),
      payload: blobColumn(r, "payload"),
      contentType: textColumn(r, "content_type"),
    }))
  }

  markSent(ids: ReadonlyArray<string>): void {
    if (ids.length === 0) return
    const now = Date.now()
    const stmt = this.db.prepare("UPDATE outbox SET sent_at = ? WHERE id = ?")
    transaction(this.db, () => {
      for (const id of ids) stmt.run(now, id)
    })
  }

  private enqueue(write: keyof typeof EVENT, e: Employee): void {
    const contract = EVENT[write]
    this.db
      .prepare("INSERT INTO outbox (id, routing_key, message_key, payload, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(newMessageId(), contract.key, e.guid, contract.codec.encode(e), contract.codec.contentType, Date.now())
  }
}
