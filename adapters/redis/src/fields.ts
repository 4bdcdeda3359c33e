/**
 * How an envelope is laid out in a stream entry. The first field is always
 * `payload` (raw bytes). Then core's wire headers (`toWireHeaders`:
 * x-omnibus-id, x-omnibus-routing-key, content-type, x-omnibus-timestamp,
 * optional x-omnibus-key / -correlation-id / -reply-to, then user headers),
 * in one of two layouts:
 * - "compact" (the default): one field, `x-omnibus-headers`, holding them as
 *   a JSON object of strings. A reader decodes two fields per entry instead
 *   of two per header (bench/FINDINGS.md, "Redis entries in two fields").
 * - "flat": a field per header. Written with `cloudEvents` on (the HTTP
 *   binding's binary mode, whose `ce-*` attributes follow), or when asked for.
 * Whatever the layout, bookkeeping the scripts add later is flat fields after
 * these (retries: x-omnibus-attempt and x-omnibus-first-failure; dead letters:
 * the failure metadata; every name is core's wire schema,
 * packages/core/src/wire.ts), and a later field wins over an earlier one.
 * Readers take the first field as the payload, so a user header that happens
 * to be named "payload" survives, and read both layouts (entries written
 * before the compact one, foreign producers).
 */
import { AdapterHeaders, failureToHeaders, fromWireHeaders, readCloudEventHeaders, toWireHeaders, Wire, type Envelope } from "@omnibus/core/adapter"
import type { FailureMetadata } from "@omnibus/core/adapter"

export const PAYLOAD_FIELD = AdapterHeaders.redis.payload
const HEADERS_FIELD = AdapterHeaders.redis.headers

/** How a published entry carries its headers (file comment). */
export type EntryLayout = "compact" | "flat"

/** `extra`: fields written after the envelope's (CloudEvents attributes). */
export const toFields = (e: Envelope, layout: EntryLayout, extra?: Readonly<Record<string, string>>): Array<string | Buffer> => {
  const out: Array<string | Buffer> = [PAYLOAD_FIELD, Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)]
  const headers = toWireHeaders(e)
  if (layout === "compact") out.push(HEADERS_FIELD, JSON.stringify(headers))
  else for (const k in headers) out.push(k, headers[k]!)
  if (extra) for (const k in extra) out.push(k, extra[k]!)
  return out
}

export interface ParsedEntry {
  readonly payload: Buffer
  /** Every field but the payload, as strings (the compact field's headers in its place). */
  readonly headers: Record<string, string>
}

const asBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(String(v ?? "")))

/** UTF-8 text of a field (toString() without arguments is Buffer's fast path to utf8Slice). */
const asString = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v ?? ""))

const EMPTY = Buffer.alloc(0)

/**
 * The compact field's headers; undefined when its value is not a JSON object of strings (a
 * foreign producer's): the field is then read as any other, and a name with the reserved
 * prefix never reaches user headers, so the entry gets the fallbacks of an entry without metadata.
 */
const compactHeaders = (json: string): Record<string, string> | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined
  const headers = parsed as Record<string, unknown>
  for (const k in headers) if (typeof headers[k] !== "string") return undefined
  return headers as Record<string, string>
}

/** Parses a field array ([name, value, ...], Buffers or strings) of either layout. */
export const parseFields = (fields: ReadonlyArray<unknown>): ParsedEntry => {
  const payload = fields.length >= 2 ? asBuffer(fields[1]) : EMPTY
  let headers: Record<string, string> | undefined
  let i = 2
  if (fields.length >= 4 && asString(fields[2]) === HEADERS_FIELD) {
    headers = compactHeaders(asString(fields[3]))
    if (headers) i = 4
  }
  headers ??= {}
  for (; i + 1 < fields.length; i += 2) headers[asString(fields[i])] = asString(fields[i + 1])
  return { payload, headers }
}

/** Envelope of an entry (bookkeeping fields never leak into user headers: fromWireHeaders keeps reserved names out). */
export const toEnvelope = (entryId: string, parsed: ParsedEntry, fallbackRoutingKey: string): Envelope => {
  const dash = entryId.indexOf("-")
  const ms = Number(dash < 0 ? entryId : entryId.slice(0, dash))
  return fromWireHeaders(readCloudEventHeaders(parsed.headers, "http"), new Uint8Array(parsed.payload.buffer, parsed.payload.byteOffset, parsed.payload.byteLength), {
    id: entryId,
    routingKey: fallbackRoutingKey,
    timestamp: Number.isFinite(ms) ? ms : undefined,
  })
}

/**
 * The metadata fields an entry lacks, with the values the consumer fell back
 * to (a foreign CloudEvent's attributes, else entry id, stream name, entry
 * time), as XADD field/value pairs: empty for entries written by Omnibus.
 */
export const fallbackFields = (headers: Readonly<Record<string, string>>, envelope: Envelope): Array<string> => {
  const out: Array<string> = []
  if (headers[Wire.id] === undefined) out.push(Wire.id, envelope.id)
  if (headers[Wire.routingKey] === undefined) out.push(Wire.routingKey, envelope.routingKey)
  if (!(Number(headers[Wire.timestamp]) > 0)) out.push(Wire.timestamp, String(envelope.timestamp))
  return out
}

/** Failure metadata as XADD field/value pairs, in core's header layout. */
export const failureFields = (f: FailureMetadata): Array<string> => Object.entries(failureToHeaders(f)).flat()

/**
 * RPC frames travel as one list element: a 4-byte big-endian length, the JSON
 * of the wire headers plus a deadline, then the raw payload.
 */
export const encodeFrame = (e: Envelope, deadline: number): Buffer => {
  const head = JSON.stringify({ h: toWireHeaders(e), d: deadline })
  const headBytes = Buffer.byteLength(head, "utf8")
  // One buffer written in place: no Buffer per part and no concat (a frame per request and per reply).
  const frame = Buffer.allocUnsafe(4 + headBytes + e.payload.byteLength)
  frame.writeUInt32BE(headBytes, 0)
  frame.write(head, 4, "utf8")
  frame.set(e.payload, 4 + headBytes)
  return frame
}

export const decodeFrame = (frame: Buffer): { readonly envelope: Envelope; readonly deadline: number } | undefined => {
  try {
    const start = 4 + frame.readUInt32BE(0)
    const head = JSON.parse(frame.toString("utf8", 4, start)) as { h: Record<string, string>; d: number }
    const payload = new Uint8Array(frame.buffer, frame.byteOffset + start, frame.length - start)
    return { envelope: fromWireHeaders(head.h, payload, { id: "", routingKey: "" }), deadline: head.d }
  } catch {
    return undefined
  }
}
