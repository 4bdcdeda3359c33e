/**
 * The audit logger (the book's subscriber): logs every employee event, to
 * stdout and to its own table so that it can be checked. It has its own
 * group, so it gets a copy of every event whatever payroll does (fan-out).
 * Each event is logged once (the inbox, subscriber.ts), with the time it
 * happened (the outbox row's creation time) and the time it arrived.
 */
import type { Message } from "@omnibus/core"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageCodec, type EmployeeMessage } from "../contracts/employee.generated.ts"
import { sqlFor } from "../database.ts"
import { once, startSubscriber } from "./subscriber.ts"

export const AUDIT_GROUP = "audit"

export const auditTables = (): ReadonlyArray<string> => [
  `CREATE TABLE IF NOT EXISTS audit_log (
  message_id  TEXT PRIMARY KEY,
  routing_key TEXT NOT NULL,
  guid        TEXT,
  payload     TEXT NOT NULL,   -- the event as JSON
  occurred_at BIGINT NOT NULL, -- the message's timestamp: when the service wrote it
  received_at BIGINT NOT NULL
)`,
]

export const startAudit = (config: PlatformConfig, log: Log): Promise<Component> =>
  startSubscriber(config, "audit", "audit", auditTables, log, async ({ db, inbox, buses, activity }) => {
    // ON CONFLICT: an event redelivered after its inbox mark expired (a day) is still logged once.
    const insert = sqlFor(db.dialect)(
      "INSERT INTO audit_log (message_id, routing_key, guid, payload, occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
    )
    const record = once(inbox, async (m: Message<EmployeeMessage>, tx) => {
      await tx.query(insert, [m.id, m.routingKey, m.payload.guid ?? null, JSON.stringify(m.payload), m.timestamp, Date.now()])
    })
    // Printed after the commit, and not for a copy of an event already logged.
    const handler = async (m: Message<EmployeeMessage>) => {
      if ((await record(m)) !== "duplicate") log(`received ${m.routingKey}: ${JSON.stringify(m.payload)}`)
    }
    return [
      await buses.events.subscribe("employee.*", handler, {
        group: AUDIT_GROUP,
        codec: EmployeeMessageCodec,
        idempotency: inbox.store,
        observe: activity.observe,
      }),
    ]
  })
