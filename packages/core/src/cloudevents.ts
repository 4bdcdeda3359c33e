/**
 * CloudEvents 1.0 in binary content mode, one mapping for every adapter:
 *
 *   id ↔ message id · type ↔ routing key · time ↔ timestamp (RFC 3339) ·
 *   subject ↔ ordering key · datacontenttype ↔ content type · source = configured
 *
 * With the `cloudEvents` option on, an adapter adds `cloudEventHeaders` to what
 * it publishes, so a CloudEvents consumer reads the message as an event of its
 * protocol binding (AMQP application properties `cloudEvents_*`, Kafka `ce_*`
 * headers, NATS and HTTP-style `ce-*` headers). On the way in, every adapter
 * passes the headers through `readCloudEventHeaders`: a foreign producer's
 * CloudEvent gets its id, type, time, subject and datacontenttype as the
 * envelope's, and Omnibus' own copies never show up as user headers.
 * The names are the wire schema's (wire.ts).
 */
import type { Envelope } from "./envelope.ts"
import { InvalidOptions } from "./errors.ts"
import { CloudEventsWire, Wire } from "./wire.ts"

/** A CloudEvents protocol binding: "amqp", "kafka", "nats", or "http" (the one Redis follows). */
export type CloudEventsBinding = keyof typeof CloudEventsWire.prefix

/** What an adapter with the `cloudEvents` option on needs to write the attributes. */
export interface CloudEventsSettings {
  /** The `source` attribute of every event published. */
  readonly source: string
}

/** The default `source`: omnibus://<adapter>/<the exchange, stream or namespace events are published to>. */
export const defaultCloudEventsSource = (adapter: string, destination: string): string => `omnibus://${adapter}/${encodeURIComponent(destination)}`

/**
 * The `cloudEvents` / `cloudEventsSource` options (true/false or "true"/"false"
 * from a URL query): the settings when on, undefined when off.
 */
export const cloudEventsSettings = (
  options: { readonly cloudEvents?: unknown; readonly cloudEventsSource?: unknown },
  defaultSource: string,
): CloudEventsSettings | undefined => {
  const on = options.cloudEvents
  if (on === undefined || on === null || on === false || on === "false") return undefined
  if (on !== true && on !== "true") throw new InvalidOptions({ option: "cloudEvents", reason: `must be true or false, got ${JSON.stringify(on)}` })
  const source = options.cloudEventsSource ?? defaultSource
  if (typeof source !== "string" || source.length === 0 || /\s/.test(source)) {
    throw new InvalidOptions({ option: "cloudEventsSource", reason: `must be a non-empty URI reference, got ${JSON.stringify(source)}` })
  }
  return { source }
}

const A = CloudEventsWire.attributes

/** Each binding's header name of each attribute, built once. */
const NAMES = Object.fromEntries(
  Object.entries(CloudEventsWire.prefix).map(([binding, prefix]) => [binding, Object.fromEntries(Object.values(A).map((a) => [a, prefix + a]))]),
) as Readonly<Record<CloudEventsBinding, Readonly<Record<keyof typeof A, string>>>>

/** NATS and HTTP header values are percent-encoded (both bindings, section 3.1.3.2); Kafka and AMQP carry UTF-8 as is. */
const percentEncoded = (binding: CloudEventsBinding): boolean => binding === "nats" || binding === "http"

/** Printable ASCII but space, '"' and '%': what a percent-encoded value keeps as is. */
const PLAIN = /^[\x21\x23\x24\x26-\x7e]*$/

const percentEncode = (value: string): string => {
  if (PLAIN.test(value)) return value
  let out = ""
  for (const ch of value) {
    const c = ch.codePointAt(0)!
    if (c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x25) out += ch
    else for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** A header value back to the attribute: unquoted (older senders quoted) and percent-decoded; undefined when malformed. */
const percentDecode = (value: string): string | undefined => {
  const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value
  try {
    return decodeURIComponent(unquoted)
  } catch {
    return undefined
  }
}

/**
 * The binary-mode attributes of an envelope as header (AMQP: application
 * property) names and values of `binding`. datacontenttype travels as the
 * content type Omnibus writes anyway (AMQP content-type property, the
 * content-type header on Kafka and HTTP), except on NATS, whose binding names it
 * `ce-datacontenttype`.
 */
export const cloudEventHeaders = (e: Envelope, binding: CloudEventsBinding, settings: CloudEventsSettings): Record<string, string> => {
  const n = NAMES[binding]
  const value = percentEncoded(binding) ? percentEncode : (v: string): string => v
  const out: Record<string, string> = {}
  out[n.specversion] = CloudEventsWire.specVersion
  out[n.id] = value(e.id)
  out[n.source] = value(settings.source)
  out[n.type] = value(e.routingKey)
  out[n.time] = new Date(e.timestamp).toISOString()
  if (e.key !== undefined) out[n.subject] = value(e.key)
  if (binding === "nats") out[n.datacontenttype] = value(e.contentType)
  return out
}

/** The Wire header each mapped attribute fills when the message lacks it. */
const FILLS: Readonly<Record<string, string>> = {
  [A.id]: Wire.id,
  [A.type]: Wire.routingKey,
  [A.time]: Wire.timestamp,
  [A.subject]: Wire.key,
  [A.datacontenttype]: Wire.contentType,
}
const ATTRIBUTES: ReadonlySet<string> = new Set(Object.values(A))

const readPrefixes = (binding: CloudEventsBinding): ReadonlyArray<string> =>
  (binding === "amqp" ? [CloudEventsWire.prefix.amqp, CloudEventsWire.amqpColonPrefix] : [CloudEventsWire.prefix[binding]]).map((p) => p.toLowerCase())
const PREFIXES: Readonly<Record<CloudEventsBinding, ReadonlyArray<string>>> = {
  amqp: readPrefixes("amqp"),
  kafka: readPrefixes("kafka"),
  nats: readPrefixes("nats"),
  http: readPrefixes("http"),
}

/** The attribute a header name carries in `binding` (names matched case-insensitively), or undefined. */
const attributeOf = (name: string, prefixes: ReadonlyArray<string>): string | undefined => {
  const c = name.charCodeAt(0)
  if (c !== 0x63 && c !== 0x43) return undefined // every prefix starts with "c"
  const lower = name.toLowerCase()
  for (const p of prefixes) {
    if (lower.startsWith(p)) {
      const attribute = lower.slice(p.length)
      return ATTRIBUTES.has(attribute) ? attribute : undefined
    }
  }
  return undefined
}

/**
 * Reads the CloudEvents context attributes among `headers`: each mapped one
 * fills the Wire header the message lacks (id, routing key from type,
 * timestamp from time, key from subject, content type), and all of them,
 * specversion and source included, leave the headers. Extension attributes
 * stay, as user headers. Returns `headers` itself when it holds no attribute
 * (every message Omnibus wrote), else a new object: `headers` is never
 * changed, so adapters pass what they parsed without copying it first.
 */
export const readCloudEventHeaders = (given: Readonly<Record<string, string>>, binding: CloudEventsBinding): Readonly<Record<string, string>> => {
  const prefixes = PREFIXES[binding]
  let found: Array<readonly [string, string]> | undefined
  for (const name in given) {
    const attribute = attributeOf(name, prefixes)
    if (attribute !== undefined) (found ??= []).push([name, attribute])
  }
  if (found === undefined) return given
  const headers = { ...given }
  const decode = percentEncoded(binding) ? percentDecode : (v: string): string => v
  const values = found.map(([name, attribute]) => [attribute, decode(headers[name]!)] as const)
  for (const [name] of found) delete headers[name]
  for (const [attribute, value] of values) {
    const target = FILLS[attribute]
    if (target === undefined || value === undefined || value.length === 0 || headers[target] !== undefined) continue
    if (attribute === A.time) {
      const ms = Date.parse(value)
      if (Number.isFinite(ms) && ms > 0) headers[target] = String(ms)
    } else headers[target] = value
  }
  return headers
}
