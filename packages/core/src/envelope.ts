/**
 * The envelope: what travels on every broker. Adapters map it onto their
 * native properties (AMQP properties, NATS/Kafka headers, Redis stream
 * fields); `toWireHeaders`/`fromWireHeaders` give the one flat layout used
 * where a broker has only string headers, so no adapter invents its own.
 */
import { randomFillSync } from "node:crypto"

export interface Envelope {
  /** Unique message id (UUID v7 unless the publisher chose one); dedup key. */
  readonly id: string
  /** The concrete routing key the message was published with. */
  readonly routingKey: string
  /** Ordering/partition key: messages with one key are handled in order when asked. */
  readonly key?: string | undefined
  readonly payload: Uint8Array
  readonly contentType: string
  /** User headers. Names starting with "x-omnibus-" are reserved. */
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId?: string | undefined
  readonly replyTo?: string | undefined
  /** Milliseconds since the epoch: the publisher's `timestamp` option, else the publish time. */
  readonly timestamp: number
}

const HEX = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1))

/** Random bytes drawn from one buffer refilled by a single randomFillSync call (not one call per id). */
const POOL = Buffer.allocUnsafe(4096)
let poolAt = POOL.length
const random = (n: number): number => {
  if (poolAt + n > POOL.length) {
    randomFillSync(POOL)
    poolAt = 0
  }
  const at = poolAt
  poolAt += n
  return at
}

/** Generator state: the millisecond of the last id, its "xxxxxxxx-xxxx-" text, and a 31-bit counter. */
let lastMs = -1
let msText = ""
let seq = 0

const startMs = (ms: number): void => {
  lastMs = ms
  // 48-bit big-endian milliseconds as 12 hex digits
  const hi = Math.floor(ms / 0x1000000)
  const lo = ms % 0x1000000
  const h = hi.toString(16).padStart(6, "0") + lo.toString(16).padStart(6, "0")
  msText = `${h.slice(0, 8)}-${h.slice(8)}-`
  // a random start (top bit clear, so it rarely wraps) keeps ids of other processes apart
  const r = random(4)
  seq = ((POOL[r]! & 0x7f) << 24) | (POOL[r + 1]! << 16) | (POOL[r + 2]! << 8) | POOL[r + 3]!
}

/**
 * A UUID v7 (RFC 9562): 48-bit Unix milliseconds, then (method 1 of section
 * 6.2) a 31-bit counter seeded at random every millisecond and incremented
 * within it, spread over rand_a and the top of rand_b, then 42 random bits.
 * Ids of one process are strictly increasing (also when the clock steps back:
 * the counter goes on from the last millisecond; a wrapped counter moves to the
 * next millisecond). The same layout as the uuid package's v7, without its
 * per-id crypto call and string building.
 */
export const newMessageId = (): string => {
  const now = Date.now()
  if (now > lastMs) startMs(now)
  else if (++seq > 0x7fffffff) startMs(lastMs + 1)
  const r = random(6)
  const b6 = 0x70 | (seq >>> 28)
  const b7 = (seq >>> 20) & 0xff
  const b8 = 0x80 | ((seq >>> 14) & 0x3f)
  const b9 = (seq >>> 6) & 0xff
  const b10 = ((seq << 2) & 0xff) | (POOL[r]! & 0x03)
  return `${msText}${HEX[b6]}${HEX[b7]}-${HEX[b8]}${HEX[b9]}-${HEX[b10]}${HEX[POOL[r + 1]!]}${HEX[POOL[r + 2]!]}${HEX[POOL[r + 3]!]}${HEX[POOL[r + 4]!]}${HEX[POOL[r + 5]!]}`
}

/** Reserved header names (also the Redis/Kafka/NATS flat wire layout). */
export const Wire = {
  id: "x-omnibus-id",
  routingKey: "x-omnibus-routing-key",
  key: "x-omnibus-key",
  contentType: "content-type",
  correlationId: "x-omnibus-correlation-id",
  replyTo: "x-omnibus-reply-to",
  timestamp: "x-omnibus-timestamp",
  attempt: "x-omnibus-attempt",
  // failure metadata on dead letters
  error: "x-omnibus-error",
  errorName: "x-omnibus-error-name",
  errorCode: "x-omnibus-error-code",
  attempts: "x-omnibus-attempts",
  firstFailure: "x-omnibus-first-failure",
  lastFailure: "x-omnibus-last-failure",
  group: "x-omnibus-group",
  /** On RPC replies: a JSON {name, message, code} when the handler threw. */
  remoteError: "x-omnibus-remote-error",
} as const

export const RESERVED_PREFIX = "x-omnibus-"

/** Flattens an envelope's metadata and user headers into one string map. */
export const toWireHeaders = (e: Envelope): Record<string, string> => {
  const out: Record<string, string> = { ...e.headers }
  out[Wire.id] = e.id
  out[Wire.routingKey] = e.routingKey
  out[Wire.contentType] = e.contentType
  out[Wire.timestamp] = String(e.timestamp)
  if (e.key !== undefined) out[Wire.key] = e.key
  if (e.correlationId !== undefined) out[Wire.correlationId] = e.correlationId
  if (e.replyTo !== undefined) out[Wire.replyTo] = e.replyTo
  return out
}

const META = new Set<string>([Wire.id, Wire.routingKey, Wire.key, Wire.contentType, Wire.timestamp, Wire.correlationId, Wire.replyTo, Wire.attempt])

/**
 * Rebuilds an envelope from a flat header map. Messages written by non-Omnibus
 * producers lack the metadata: the id falls back to `fallbackId` (a broker
 * sequence), the routing key to `fallbackRoutingKey`.
 */
export const fromWireHeaders = (
  headers: Readonly<Record<string, string>>,
  payload: Uint8Array,
  fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
): Envelope => {
  const user: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (!META.has(k)) user[k] = v
  const ts = Number(headers[Wire.timestamp])
  return {
    id: headers[Wire.id] ?? fallback.id,
    routingKey: headers[Wire.routingKey] ?? fallback.routingKey,
    key: headers[Wire.key],
    payload,
    contentType: headers[Wire.contentType] ?? "application/octet-stream",
    headers: user,
    correlationId: headers[Wire.correlationId],
    replyTo: headers[Wire.replyTo],
    timestamp: Number.isFinite(ts) && ts > 0 ? ts : (fallback.timestamp ?? Date.now()),
  }
}

/**
 * CloudEvents 1.0 binary-mode attributes for an envelope. The mapping:
 * id → ce-id, routingKey → ce-type, timestamp → ce-time (RFC 3339),
 * contentType → datacontenttype, key → ce-partitionkey (partitioning
 * extension), correlationId → ce-correlationid; `source` is the publisher's.
 */
export const toCloudEventAttributes = (e: Envelope, source: string): Record<string, string> => {
  const out: Record<string, string> = {
    "ce-specversion": "1.0",
    "ce-id": e.id,
    "ce-source": source,
    "ce-type": e.routingKey,
    "ce-time": new Date(e.timestamp).toISOString(),
    "content-type": e.contentType,
  }
  if (e.key !== undefined) out["ce-partitionkey"] = e.key
  if (e.correlationId !== undefined) out["ce-correlationid"] = e.correlationId
  return out
}

/** Failure metadata as flat headers on a dead letter (one layout for every adapter). */
export const failureToHeaders = (f: import("./transport.ts").FailureMetadata): Record<string, string> => {
  const out: Record<string, string> = {
    [Wire.error]: f.error,
    [Wire.errorName]: f.errorName,
    [Wire.attempts]: String(f.attempts),
    [Wire.firstFailure]: String(f.firstFailureAt),
    [Wire.lastFailure]: String(f.lastFailureAt),
    [Wire.group]: f.group,
  }
  if (f.errorCode !== undefined) out[Wire.errorCode] = f.errorCode
  return out
}

/** Reads failure metadata back from dead-letter headers; `group` fills in when the header is missing. */
export const failureFromHeaders = (h: Readonly<Record<string, string | undefined>>, group: string): import("./transport.ts").FailureMetadata => {
  const num = (name: string): number => {
    const n = Number(h[name])
    return Number.isFinite(n) ? n : 0
  }
  return {
    error: h[Wire.error] ?? "",
    errorName: h[Wire.errorName] ?? "Error",
    errorCode: h[Wire.errorCode],
    attempts: num(Wire.attempts),
    firstFailureAt: num(Wire.firstFailure),
    lastFailureAt: num(Wire.lastFailure),
    group: h[Wire.group] ?? group,
  }
}

/** Names of the failure-metadata headers (to strip them when replaying). */
export const FAILURE_HEADERS: ReadonlySet<string> = new Set([Wire.error, Wire.errorName, Wire.errorCode, Wire.attempts, Wire.firstFailure, Wire.lastFailure, Wire.group])
