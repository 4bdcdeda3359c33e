/**
 * The audit logger (the book's subscriber): logs every employee event, to
 * stdout and to its own SQLite table so that it can be checked. It has its
 * own group, so it gets a copy of every event whatever payroll does (fan-out).
 */
import { join } from "node:path"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageCodec } from "../contracts/employee.generated.ts"
import { startSubscriber } from "./subscriber.ts"

export const AUDIT_GROUP = "audit"

export const auditDatabase = (config: PlatformConfig): string => join(config.dataDir, "audit.db")

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  message_id  TEXT PRIMARY KEY,   -- a redelivered event is logged once
  routing_key TEXT NOT NULL,
  guid        TEXT,
  payload     TEXT NOT NULL,      -- the event as JSON
  received_at INTEGER NOT NULL
);
`

export const startAudit = (config: PlatformConfig, log: Log): Promise<Component> =>
  startSubscriber(config, auditDatabase(config), (db, buses) => {
    db.exec(SCHEMA)
    const insert = db.prepare("INSERT INTO audit_log (message_id, routing_key, guid, payload, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING")
    return buses.events.subscribe("employee.*", (m) => {
      const json = JSON.stringify(m.payload)
      const { changes } = insert.run(m.id, m.routingKey, m.payload.guid ?? null, json, Date.now())
      if (changes > 0) log(`received ${m.routingKey}: ${json}`)
    }, { group: AUDIT_GROUP, codec: EmployeeMessageCodec })
  })
