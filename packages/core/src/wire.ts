/**
 * The wire schema: every name Omnibus puts on a broker message and every size
 * limit of what travels, defined once. Adapters map the envelope onto their
 * broker with these names and never define one of their own
 * (packages/core/test/wire-schema.test.ts scans their sources for that).
 * `toWireHeaders`/`fromWireHeaders` give the one flat layout used where a
 * broker has only string headers, so every adapter reads what another wrote.
 * The CloudEvents mapping built on these names is cloudevents.ts.
 */
import type { Envelope } from "./envelope.ts"
import { PayloadTooLarge } from "./errors.ts"
import type { FailureMetadata } from "./transport.ts"

/** Header names starting with this are Omnibus' own: users may not set them (message.ts). */
export const RESERVED_PREFIX = "x-omnibus-"

/** The envelope's metadata, retry bookkeeping and failure metadata, as flat header names. */
export const Wire = {
  id: "x-omnibus-id",
  routingKey: "x-omnibus-routing-key",
  key: "x-omnibus-key",
  contentType: "content-type",
  correlationId: "x-omnibus-correlation-id",
  replyTo: "x-omnibus-reply-to",
  timestamp: "x-omnibus-timestamp",
  /** The attempt a retry copy is for (1 when absent). */
  attempt: "x-omnibus-attempt",
  // failure metadata on dead letters
  error: "x-omnibus-error",
  errorName: "x-omnibus-error-name",
  errorCode: "x-omnibus-error-code",
  attempts: "x-omnibus-attempts",
  /** Also on retry copies: when the first attempt failed. */
  firstFailure: "x-omnibus-first-failure",
  lastFailure: "x-omnibus-last-failure",
  group: "x-omnibus-group",
  /** On RPC replies: a JSON {name, message, code} when the handler threw (core reads it from the reply's headers). */
  remoteError: "x-omnibus-remote-error",
} as const

/** Failure metadata headers: on dead letters only, stripped when one is replayed. */
export const FAILURE_HEADERS: ReadonlySet<string> = new Set([Wire.error, Wire.errorName, Wire.errorCode, Wire.attempts, Wire.firstFailure, Wire.lastFailure, Wire.group])

/** Retry bookkeeping: replaced on every retry copy. */
export const RETRY_HEADERS: ReadonlySet<string> = new Set([Wire.attempt, Wire.firstFailure])

/** Failure metadata and retry bookkeeping: what a message loses when it is copied back into its group (replay). */
export const BOOKKEEPING_HEADERS: ReadonlySet<string> = new Set([...FAILURE_HEADERS, ...RETRY_HEADERS])

/**
 * Names one adapter adds for its broker's mechanics. They live here, not in the
 * adapter, so that every name on the wire is in one table. Reserved-prefix ones
 * never reach user headers (fromWireHeaders); the others are handled by their adapter.
 */
export const AdapterHeaders = {
  kafka: {
    /** When a retry record becomes due (ms since the epoch). */
    due: "x-omnibus-due",
    /** On dead-letter tombstones: the DLQ position (partition:offset) removed by replay. */
    dlqRemoved: "x-omnibus-dlq-removed",
    /** On RPC replies: the request topic's partition the server read the request from. */
    rpcPartition: "x-omnibus-rpc-partition",
  },
  nats: {
    /** JSON list of the headers whose values are base64 (NATS header values allow no CR/LF). */
    base64: "x-omnibus-nats-b64",
    /** Claim check: the blob stream sequences holding a payload over the server's max_payload. */
    blob: "x-omnibus-nats-blob",
  },
  rabbitmq: {
    /** On a message in a delay queue: when it is due (ms since the epoch); dropped on the way in. */
    retryDue: "omnibus-retry-due",
    /** Target queue header of the TTL delay queues of versions before 2026-12-04 (retries still waiting in them carry it). */
    legacyRetryTo: "omnibus-retry-to",
    /** Names the user headers dropped from a republished message to fit amqplib's 64 KiB header table. */
    droppedHeaders: "omnibus-dropped-headers",
  },
  redis: {
    /** The first field of every stream entry: the raw payload. */
    payload: "payload",
    /** The second field of an entry in the compact layout: every wire header, as one JSON object of strings. */
    headers: "x-omnibus-headers",
  },
} as const

/**
 * CloudEvents 1.0 binary content mode: the attribute names and, per protocol
 * binding, the prefix that makes them header (AMQP: application property) names.
 * Redis has no binding of its own and uses the HTTP one's (`ce-`).
 */
export const CloudEventsWire = {
  specVersion: "1.0",
  attributes: {
    specversion: "specversion",
    id: "id",
    source: "source",
    type: "type",
    time: "time",
    subject: "subject",
    datacontenttype: "datacontenttype",
  },
  prefix: {
    /** The AMQP binding prefers "_" (JMS selectors cannot name ":"). */
    amqp: "cloudEvents_",
    kafka: "ce_",
    nats: "ce-",
    http: "ce-",
  },
  /** The AMQP binding's other separator: read, never written. */
  amqpColonPrefix: "cloudEvents:",
} as const

/** Total size (UTF-8 bytes of names and values) of user headers a message may carry. */
export const MAX_HEADER_BYTES = 64 * 1024

/** UTF-8 bytes of header names and values: what MAX_HEADER_BYTES limits. */
export const headersSize = (headers: Readonly<Record<string, string>>): number => {
  let n = 0
  // for-in, not Object.keys: no array per message (headers are plain objects)
  for (const k in headers) {
    const v = headers[k]
    n += Buffer.byteLength(k) + (typeof v === "string" ? Buffer.byteLength(v) : 0)
  }
  return n
}

/** Longest routing key, pattern or ordering key (UTF-8 bytes). */
export const MAX_KEY_BYTES = 255

/** Largest payload an adapter accepts unless its `maxPayloadBytes` option says otherwise. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 8 * 1024 * 1024

/**
 * The payload limit, checked here only: core calls it for every publish and request before
 * anything is sent (message.ts), with the transport's `limits.maxPayloadBytes`; adapters do not check again.
 */
export const payloadTooLarge = (key: string, size: number, max: number): PayloadTooLarge | undefined =>
  size > max ? new PayloadTooLarge({ key, size, max }) : undefined

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

/**
 * Whether a header is one a handler sees: not content-type (an envelope field)
 * and no reserved name but the remote error, which core reads from an RPC reply's headers.
 */
const isUserHeader = (name: string): boolean =>
  name !== Wire.contentType && (!name.startsWith(RESERVED_PREFIX) || name === Wire.remoteError)

/**
 * Rebuilds an envelope from a flat header map; every reserved name (metadata,
 * bookkeeping, an adapter's own) stays out of the user headers. Messages written
 * by non-Omnibus producers lack the metadata: the id falls back to `fallback.id`
 * (a broker sequence), the routing key to `fallback.routingKey`.
 */
export const fromWireHeaders = (
  headers: Readonly<Record<string, string>>,
  payload: Uint8Array,
  fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
): Envelope => {
  const user: Record<string, string> = {}
  for (const k in headers) if (isUserHeader(k)) user[k] = headers[k]!
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

/** The attempt a message was written for: its attempt header, 1 when absent or invalid. */
export const attemptOf = (headers: Readonly<Record<string, string | undefined>>): number => {
  const n = Number(headers[Wire.attempt])
  return Number.isInteger(n) && n >= 1 ? n : 1
}

/** When the first attempt failed (a retry copy's header), or undefined. */
export const firstFailureOf = (headers: Readonly<Record<string, string | undefined>>): number | undefined => {
  const n = Number(headers[Wire.firstFailure])
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/** Failure metadata as flat headers on a dead letter (one layout for every adapter). */
export const failureToHeaders = (f: FailureMetadata): Record<string, string> => {
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

/**
 * Reads failure metadata back from dead-letter headers; `group` fills in when the
 * header is missing, `defaults` the attempts and failure times (0 unless given:
 * an adapter may know when the dead letter was written).
 */
export const failureFromHeaders = (
  h: Readonly<Record<string, string | undefined>>,
  group: string,
  defaults: { readonly attempts?: number; readonly at?: number } = {},
): FailureMetadata => {
  const num = (name: string, fallback: number): number => {
    const v = h[name]
    const n = Number(v)
    return v !== undefined && Number.isFinite(n) ? n : fallback
  }
  return {
    error: h[Wire.error] ?? "",
    errorName: h[Wire.errorName] ?? "Error",
    errorCode: h[Wire.errorCode],
    attempts: num(Wire.attempts, defaults.attempts ?? 0),
    firstFailureAt: num(Wire.firstFailure, defaults.at ?? 0),
    lastFailureAt: num(Wire.lastFailure, defaults.at ?? 0),
    group: h[Wire.group] ?? group,
  }
}
