/** Builds envelopes for publishing and messages for handlers. */
import type { Message, PublishOptions } from "./api.ts"
import type { Codec } from "./codec.ts"
import { newMessageId, type Envelope } from "./envelope.ts"
import { InvalidOptions, PayloadTooLarge, PublishFailed } from "./errors.ts"
import { headersSize, MAX_HEADER_BYTES, payloadTooLarge, RESERVED_PREFIX } from "./wire.ts"
import { validateRoutingKey } from "./routing.ts"

/** Validates and encodes one publish; returns the envelope or the typed error naming the problem. */
export const buildEnvelope = (
  key: string,
  payload: unknown,
  codec: Codec<unknown>,
  options: PublishOptions | undefined,
  maxPayloadBytes: number,
): Envelope | InvalidOptions | PayloadTooLarge | PublishFailed | import("./errors.ts").InvalidRoutingKey => {
  const bad = validateRoutingKey(key)
  if (bad) return bad
  if (options?.key !== undefined && (typeof options.key !== "string" || options.key.length === 0)) {
    return new InvalidOptions({ option: "key", reason: "must be a non-empty string" })
  }
  if (options?.id !== undefined && (typeof options.id !== "string" || options.id.length === 0 || options.id.length > 255)) {
    return new InvalidOptions({ option: "id", reason: "must be a non-empty string of at most 255 characters" })
  }
  if (options?.correlationId !== undefined && typeof options.correlationId !== "string") {
    return new InvalidOptions({ option: "correlationId", reason: "must be a string" })
  }
  const timestamp = timestampOf(options?.timestamp)
  if (timestamp === undefined) return new InvalidOptions({ option: "timestamp", reason: "must be a valid Date or a positive integer of milliseconds since the epoch" })
  const headers = options?.headers ?? {}
  if (typeof headers !== "object" || headers === null) return new InvalidOptions({ option: "headers", reason: "must be an object of string values" })
  for (const [name, value] of Object.entries(headers)) {
    if (name.length === 0 || /[\s:]/.test(name)) return new InvalidOptions({ option: `headers.${name}`, reason: "header names must be non-empty, without whitespace or ':'" })
    if (name.toLowerCase().startsWith(RESERVED_PREFIX)) return new InvalidOptions({ option: `headers.${name}`, reason: `names starting with ${RESERVED_PREFIX} are reserved` })
    if (typeof value !== "string") return new InvalidOptions({ option: `headers.${name}`, reason: "header values must be strings" })
  }
  const size = headersSize(headers)
  if (size > MAX_HEADER_BYTES) return new InvalidOptions({ option: "headers", reason: `${size} bytes of headers are over the maximum of ${MAX_HEADER_BYTES}` })
  let body: Uint8Array
  try {
    body = codec.encode(payload)
  } catch (e) {
    return new PublishFailed({ key, reason: `payload could not be encoded as ${codec.contentType}: ${e instanceof Error ? e.message : String(e)}` })
  }
  const tooLarge = payloadTooLarge(key, body.byteLength, maxPayloadBytes)
  if (tooLarge) return tooLarge
  return {
    id: options?.id ?? newMessageId(),
    routingKey: key,
    key: options?.key,
    payload: body,
    contentType: codec.contentType,
    headers,
    correlationId: options?.correlationId,
    timestamp,
  }
}

/** The envelope's timestamp: the publisher's (a Date or epoch ms), else now; undefined when unusable. */
const timestampOf = (given: Date | number | undefined): number | undefined => {
  if (given === undefined) return Date.now()
  const ms = given instanceof Date ? given.getTime() : given
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}

export const toMessage = <T>(e: Envelope, payload: T, attempt: number, redeliveries: number, group: string): Message<T> => ({
  id: e.id,
  routingKey: e.routingKey,
  key: e.key,
  payload,
  body: e.payload,
  contentType: e.contentType,
  headers: e.headers,
  correlationId: e.correlationId,
  timestamp: e.timestamp,
  attempt,
  redeliveries,
  group,
})
