/**
 * What the operations view's Activity page shows: one small event per thing
 * that happened to an employee event, published on the events bus under
 * ACTIVITY_KEY by whichever process saw it (the service's relay: "published";
 * audit and payroll: their subscriptions' outcomes; the web app: "replayed").
 * The web app reads them with an ephemeral subscription, so it sees every
 * component whether they share its process or not, on any broker.
 */
import { defineEvent, jsonOf, type HandlerEventType } from "@omnibus/core"

/** Not under "employee.": the subscribers' "employee.*" patterns must not match it. */
export const ACTIVITY_KEY = "ops.activity"

export type ActivityType = "published" | "replayed" | HandlerEventType

const TYPES: ReadonlySet<string> = new Set<ActivityType>(["published", "replayed", "handled", "retry", "dead-letter", "dropped", "duplicate", "released"])

export interface ActivityEvent {
  readonly type: ActivityType
  /** The reporting component: "service", "audit", "payroll-1", "web". */
  readonly source: string
  /** The adapter that carried the employee event ("rabbitmq", "nats", …). */
  readonly broker: string
  /** The employee event's message id. */
  readonly id: string
  readonly routingKey: string
  /** The consumer group, for outcomes and replays. */
  readonly group?: string | undefined
  readonly attempt?: number | undefined
  readonly error?: { readonly name: string; readonly message: string } | undefined
  /** For "retry": the wait before the next attempt. */
  readonly delayMs?: number | undefined
  /** Milliseconds since the epoch, on the reporter's clock. */
  readonly at: number
}

/** For publishing; readers decode plain JSON and check it with parseActivity. */
export const ACTIVITY = defineEvent(ACTIVITY_KEY, jsonOf<ActivityEvent>())

const optionalNumber = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)
const optionalText = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)

/** Anyone may publish on the key: keep well-formed events only, and only their known fields. */
export const parseActivity = (u: unknown): ActivityEvent | undefined => {
  if (typeof u !== "object" || u === null) return undefined
  const r = u as Record<string, unknown>
  const { type, source, broker, id, routingKey, at } = r
  if (typeof type !== "string" || !TYPES.has(type) || typeof at !== "number" || !Number.isFinite(at)) return undefined
  if (typeof source !== "string" || typeof broker !== "string" || typeof id !== "string" || typeof routingKey !== "string") return undefined
  const e = typeof r["error"] === "object" && r["error"] !== null ? (r["error"] as Record<string, unknown>) : {}
  const error = typeof e["name"] === "string" && typeof e["message"] === "string" ? { name: e["name"], message: e["message"] } : undefined
  return {
    type: type as ActivityType,
    source,
    broker,
    id,
    routingKey,
    group: optionalText(r["group"]),
    attempt: optionalNumber(r["attempt"]),
    error,
    delayMs: optionalNumber(r["delayMs"]),
    at,
  }
}
