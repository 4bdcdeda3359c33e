/**
 * Envelope <-> AMQP message. Id, content type and correlation id travel as
 * native AMQP properties (message_id, content_type, correlation_id), which
 * plain AMQP clients understand; the rest in core's flat `Wire` headers: the
 * millisecond timestamp (AMQP's is in seconds, also set), the key, and the
 * original routing key on copies published to a queue directly (retries,
 * dead letters, replays), whose own routing key is the queue name.
 * CloudEvents attributes, when on, are the AMQP binding's application
 * properties (`cloudEvents_*` headers), datacontenttype the content_type.
 */
import { createHash } from "node:crypto"
import type { Message, Options } from "amqplib"
import { AdapterHeaders, fromWireHeaders, newMessageId, readCloudEventHeaders, RESERVED_PREFIX, toWireHeaders, Wire } from "@omnibus/core/adapter"
import type { Envelope } from "@omnibus/core/adapter"
import { RETRY_DUE } from "./topology.ts"
import type { ForeignIds } from "./options.ts"

/** Target header of the TTL delay queues before 2026-12-04: retries still waiting in them arrive with it. */
const LEGACY_RETRY_TO = AdapterHeaders.rabbitmq.legacyRetryTo

/** Broker bookkeeping headers dropped on the way in. */
const isBrokerHeader = (name: string): boolean =>
  name === "x-death" || name === "x-delivery-count" || name === RETRY_DUE || name === LEGACY_RETRY_TO || name.startsWith("x-first-death-") || name.startsWith("x-last-death-")

/** amqplib's decoding of an AMQP timestamp field (seconds since the epoch). */
const isTimestamp = (value: unknown): value is { readonly "!": "timestamp"; readonly value: number } =>
  typeof value === "object" && value !== null && (value as { "!"?: unknown })["!"] === "timestamp" && typeof (value as { value?: unknown }).value === "number"

const headerText = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (Buffer.isBuffer(value)) return value.toString("utf8")
  // RFC 3339, the string form the CloudEvents AMQP binding accepts for a native timestamp (its `time`)
  if (isTimestamp(value)) return new Date(value.value * 1000).toISOString()
  return undefined // tables and arrays of foreign producers
}

/**
 * All string-valued headers of a message; where a Wire header is missing, a
 * foreign CloudEvent's attribute fills it in, else the native property.
 */
export const wireHeadersOf = (msg: Message): Record<string, string> => {
  const given: Record<string, string> = {}
  const p = msg.properties
  for (const [k, v] of Object.entries(p.headers ?? {})) {
    if (isBrokerHeader(k)) continue
    const s = headerText(v)
    if (s !== undefined) given[k] = s
  }
  // ours to fill either way: `given` itself, or the copy made when it held CloudEvents attributes
  const out = readCloudEventHeaders(given, "amqp") as Record<string, string>
  if (typeof p.messageId === "string") out[Wire.id] ??= p.messageId
  if (typeof p.contentType === "string") out[Wire.contentType] ??= p.contentType
  if (typeof p.correlationId === "string") out[Wire.correlationId] ??= p.correlationId
  if (typeof p.timestamp === "number" && p.timestamp > 0) out[Wire.timestamp] ??= String(p.timestamp * 1000)
  return out
}

/**
 * The id of a message without message_id, from what the broker stores and redelivers
 * unchanged: routing key, headers and native properties (content type, timestamp,
 * correlation id; wireHeadersOf drops x-delivery-count and x-death, which change) and
 * the body. Two messages equal in all of these get one id.
 */
export const contentId = (routingKey: string, wire: Readonly<Record<string, string>>, body: Uint8Array): string => {
  const h = createHash("sha256").update(routingKey).update("\0")
  for (const k of Object.keys(wire).sort()) h.update(k).update("\0").update(wire[k]!).update("\0")
  return `sha256:${h.update(body).digest("hex").slice(0, 32)}`
}

/** The envelope of a received message (fromWireHeaders keeps failure metadata out of its headers). */
export const envelopeOf = (msg: Message, wire: Record<string, string> = wireHeadersOf(msg), foreignIds: ForeignIds = "fresh"): Envelope => {
  const id =
    wire[Wire.id] !== undefined ? ""
      // AMQP has no broker sequence: a foreign message without message_id gets a fresh id, or a
      // content hash when asked (made only then: this runs for every delivery).
      : foreignIds === "content" ? contentId(msg.fields.routingKey, wire, msg.content)
        : newMessageId()
  return fromWireHeaders(wire, new Uint8Array(msg.content), { id, routingKey: msg.fields.routingKey })
}

export { attemptOf as attemptHeader, firstFailureOf } from "@omnibus/core/adapter"

export const bodyOf = (env: Envelope): Buffer => Buffer.from(env.payload.buffer, env.payload.byteOffset, env.payload.byteLength)

/**
 * amqplib encodes a header table in a fixed 64 KiB buffer (RangeError beyond),
 * while RabbitMQ accepts larger tables from other clients (up to frame_max).
 * What the consumer republishes (retries, dead letters) must always be
 * encodable, or the delivery could never be settled and would be redelivered
 * in a hot loop. (The header table is the only table in basic properties, so
 * it has amqplib's buffer to itself; a small margin covers the estimate.)
 */
export const MAX_HEADER_TABLE_BYTES = 65_536 - 64

/** Header named on a republished message whose largest user headers were dropped to fit amqplib's table buffer. */
export const DROPPED_HEADERS = AdapterHeaders.rabbitmq.droppedHeaders

const tableBytes = (headers: Readonly<Record<string, unknown>>): number => {
  let n = 4
  for (const [k, v] of Object.entries(headers)) n += 1 + Buffer.byteLength(k) + 1 + 4 + (typeof v === "string" ? Buffer.byteLength(v) : 8)
  return n
}

/**
 * Publish options whose header table amqplib can encode: when it is over
 * MAX_HEADER_TABLE_BYTES, the largest user headers are dropped (never Omnibus
 * metadata or `protected` names) and listed in DROPPED_HEADERS.
 */
export const fitHeaderTable = (options: Options.Publish, protectedNames: ReadonlySet<string> = new Set()): Options.Publish => {
  const headers = { ...(options.headers as Record<string, unknown> | undefined) }
  let size = tableBytes(headers)
  if (size <= MAX_HEADER_TABLE_BYTES) return options
  const droppable = Object.entries(headers)
    .filter(([k]) => !k.startsWith(RESERVED_PREFIX) && k !== RETRY_DUE && !protectedNames.has(k))
    .sort(([, a], [, b]) => (typeof b === "string" ? b.length : 0) - (typeof a === "string" ? a.length : 0))
  const dropped: Array<string> = []
  for (const [k] of droppable) {
    if (size <= MAX_HEADER_TABLE_BYTES - 1024) break
    size -= tableBytes({ [k]: headers[k] }) - 4
    delete headers[k]
    dropped.push(k)
  }
  const list = dropped.join(",")
  headers[DROPPED_HEADERS] = list.length > 1000 ? `${list.slice(0, 997)}...` : list
  return { ...options, headers }
}

/**
 * Publish properties of an RPC request or reply: native AMQP properties and user headers only.
 * RPC messages are transient and never republished, so the Wire copies of id, content type,
 * correlation id and routing key (the method, or the reply queue) are redundant; leaving them
 * out spares the broker a header table per message (RPC x64 is broker-bound on small machines).
 * The millisecond timestamp rides as the one extra header, as AMQP's is in seconds.
 */
export const rpcOptions = (env: Envelope): Options.Publish => {
  const opts: Options.Publish = {
    persistent: false,
    messageId: env.id,
    contentType: env.contentType,
    headers: { ...env.headers, [Wire.timestamp]: String(env.timestamp) },
  }
  if (env.correlationId !== undefined) opts.correlationId = env.correlationId
  return opts
}

/**
 * Publish properties of an envelope; `extra` headers (attempt, failure metadata) are added on top.
 * Id, content type and correlation id travel only as native properties (wireHeadersOf reads them
 * back); `viaExchange` (a first publish through the topic exchange) leaves out the routing-key
 * header too, since the delivery's own routing key is the original one. Each header is parsed
 * and stored by the broker for every message, so the table stays as small as the mapping allows.
 */
export const publishOptions = (env: Envelope, extra: Record<string, string> = {}, viaExchange = false): Options.Publish => {
  const headers: Record<string, unknown> = { ...toWireHeaders(env), ...extra }
  delete headers[Wire.id]
  delete headers[Wire.contentType]
  delete headers[Wire.correlationId]
  if (viaExchange) delete headers[Wire.routingKey]
  const opts: Options.Publish = {
    persistent: true,
    messageId: env.id,
    contentType: env.contentType,
    timestamp: Math.floor(env.timestamp / 1000),
    headers,
  }
  if (env.correlationId !== undefined) opts.correlationId = env.correlationId
  return opts
}

/**
 * Publish options of a message this adapter published itself (a waiting retry), for
 * moving it on unchanged: its native properties and headers, minus broker bookkeeping;
 * the due time only while it goes on waiting (`keepDue`).
 */
export const republishOptions = (msg: Message, keepDue: boolean): Options.Publish => {
  const p = msg.properties
  const headers: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(p.headers ?? {})) {
    if (isBrokerHeader(k) && !(keepDue && k === RETRY_DUE)) continue
    headers[k] = v
  }
  const opts: Options.Publish = { persistent: true, headers }
  if (typeof p.messageId === "string") opts.messageId = p.messageId
  if (typeof p.contentType === "string") opts.contentType = p.contentType
  if (typeof p.correlationId === "string") opts.correlationId = p.correlationId
  if (typeof p.timestamp === "number") opts.timestamp = p.timestamp
  return opts
}
