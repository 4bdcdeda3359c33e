/**
 * How an envelope is laid out in a stream entry: the first field is always
 * `payload` (raw bytes), followed by core's flat wire headers
 * (`toWireHeaders`: x-omnibus-id, x-omnibus-routing-key, content-type,
 * x-omnibus-timestamp, optional x-omnibus-key / -correlation-id / -reply-to,
 * then user headers). Retries add x-omnibus-attempt and
 * x-omnibus-first-failure; dead letters add the failure metadata (every name
 * is core's wire schema, packages/core/src/wire.ts). With `cloudEvents` on,
 * published entries also carry the HTTP binding's `ce-*` fields.
 * Readers take the first field as the payload, so a user header that happens
 * to be named "payload" survives.
 */
import { AdapterHeaders, failureToHeaders, fromWireHeaders, readCloudEventHeaders, toWireHeaders, Wire, type Envelope } from "@omnibus/core/adapter"
import type { FailureMetadata } from "@omnibus/core/adapter"

export const PAYLOAD_FIELD = AdapterHeaders.redis.payload

/** `extra`: fields written after the envelope's (CloudEvents attributes). */
export const toFields = (e: Envelope, extra?: Readonly<Record<string, string>>): Array<string | Buffer> => {
  const out: Array<string | Buffer> = [PAYLOAD_FIELD, Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)]
  for (const [k, v] of Object.entries(toWireHeaders(e))) out.push(k, v)
  if (extra) for (const [k, v] of Object.entries(extra)) out.push(k, v)
  return out
}

export interface ParsedEntry {
  readonly payload: Buffer
  /** Every field but the payload, as strings. */
  readonly headers: Record<string, string>
}

const asBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(String(v ?? "")))

/** UTF-8 text of a field (toString() without arguments is Buffer's fast path to utf8Slice). */
const asString = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v ?? ""))

const EMPTY = Buffer.alloc(0)

/** Parses a flat [name, value, ...] field array (Buffers or strings). */
export const parseFields = (fields: ReadonlyArray<unknown>): ParsedEntry => {
  const headers: Record<string, string> = {}
  const payload = fields.length >= 2 ? asBuffer(fields[1]) : EMPTY
  for (let i = 2; i + 1 < fields.length; i += 2) headers[asString(fields[i])] = asString(fields[i + 1])
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
  const head = Buffer.from(JSON.stringify({ h: toWireHeaders(e), d: deadline }), "utf8")
  const len = Buffer.alloc(4)
  len.writeUInt32BE(head.length, 0)
  return Buffer.concat([len, head, Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)])
}

export const decodeFrame = (frame: Buffer): { readonly envelope: Envelope; readonly deadline: number } | undefined => {
  try {
    const len = frame.readUInt32BE(0)
    const head = JSON.parse(frame.subarray(4, 4 + len).toString("utf8")) as { h: Record<string, string>; d: number }
    const body = frame.subarray(4 + len)
    const payload = new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
    return { envelope: fromWireHeaders(head.h, payload, { id: "", routingKey: "" }), deadline: head.d }
  } catch {
    return undefined
  }
}
