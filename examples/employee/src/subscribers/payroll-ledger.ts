/**
 * Payroll's table and the rules for changing it, apart from the bus so the
 * rules can be checked directly. Upsert on employee.created/updated, delete
 * on employee.destroyed, each event applied at most once and never an older
 * change over a newer one:
 *
 * - Idempotent by message id: the id goes into payroll_inbox in the same
 *   transaction as the change, so a redelivered event changes nothing.
 * - Order-safe: competing instances process events concurrently, so an older
 *   change of an employee may arrive after a newer one; payroll_versions
 *   keeps the last applied outbox sequence number per employee (also after a
 *   delete) and older changes are skipped.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite"
import { PermanentError } from "@omnibus/core"
import type { EmployeeMessage } from "../contracts/employee.generated.ts"
import { OUTBOX_SEQ_HEADER } from "../service/outbox.ts"
import { intColumn, transaction } from "../sqlite.ts"

const SCHEMA = `
CREATE TABLE IF NOT EXISTS payroll (
  guid       TEXT PRIMARY KEY,
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  instance   TEXT NOT NULL,      -- which payroll instance applied the last change
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payroll_inbox (
  message_id   TEXT PRIMARY KEY,
  routing_key  TEXT NOT NULL,
  instance     TEXT NOT NULL,
  processed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS payroll_versions (
  guid TEXT PRIMARY KEY,
  seq  INTEGER NOT NULL
);
`

export interface PayrollEvent {
  readonly id: string
  readonly routingKey: string
  readonly headers: Readonly<Record<string, string>>
  readonly payload: EmployeeMessage
}

export type PayrollOutcome = "on payroll" | "off payroll" | "duplicate" | "stale"

export class PayrollLedger {
  private readonly db: DatabaseSync
  private readonly instance: string
  private readonly claim: StatementSync
  private readonly version: StatementSync
  private readonly setVersion: StatementSync
  private readonly upsert: StatementSync
  private readonly remove: StatementSync

  constructor(db: DatabaseSync, instance: string) {
    this.db = db
    this.instance = instance
    db.exec(SCHEMA)
    this.claim = db.prepare("INSERT INTO payroll_inbox (message_id, routing_key, instance, processed_at) VALUES (?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING")
    this.version = db.prepare("SELECT seq FROM payroll_versions WHERE guid = ?")
    this.setVersion = db.prepare("INSERT INTO payroll_versions (guid, seq) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET seq = excluded.seq")
    this.upsert = db.prepare(
      `INSERT INTO payroll (guid, first_name, last_name, instance, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (guid) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, instance = excluded.instance, updated_at = excluded.updated_at`,
    )
    this.remove = db.prepare("DELETE FROM payroll WHERE guid = ?")
  }

  /** Applies one event; a PermanentError means retrying cannot help (the bus dead-letters it). */
  apply(m: PayrollEvent): PayrollOutcome {
    const { guid, firstName, lastName } = m.payload
    const upsert = m.routingKey === "employee.created" || m.routingKey === "employee.updated"
    if (!upsert && m.routingKey !== "employee.destroyed") throw new PermanentError(`payroll does not handle ${m.routingKey}`, { code: "unexpected_event" })
    if (guid === undefined) throw new PermanentError(`${m.routingKey} ${m.id} has no guid`, { code: "invalid" })
    if (upsert && (firstName === undefined || lastName === undefined)) throw new PermanentError(`${m.routingKey} ${m.id} lacks a name`, { code: "invalid" })
    const seqHeader = m.headers[OUTBOX_SEQ_HEADER]
    const seq = seqHeader === undefined ? undefined : Number(seqHeader)
    if (seq !== undefined && !Number.isSafeInteger(seq)) throw new PermanentError(`${m.id}: bad ${OUTBOX_SEQ_HEADER} ${seqHeader}`, { code: "invalid" })
    return transaction(this.db, (): PayrollOutcome => {
      if (this.claim.run(m.id, m.routingKey, this.instance, Date.now()).changes === 0) return "duplicate"
      const last = this.version.get(guid)
      if (seq !== undefined && last !== undefined && intColumn(last, "seq") >= seq) return "stale"
      if (seq !== undefined) this.setVersion.run(guid, seq)
      if (upsert) {
        this.upsert.run(guid, firstName ?? "", lastName ?? "", this.instance, Date.now())
        return "on payroll"
      }
      this.remove.run(guid)
      return "off payroll"
    })
  }
}
