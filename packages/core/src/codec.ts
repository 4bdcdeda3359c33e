/**
 * Codecs turn typed payloads into bytes and back. A codec's `decode` throws
 * DecodeFailed (or anything, which core wraps) on bad input; core then sends
 * the message to the dead-letter destination at once, since retrying a
 * payload that cannot be decoded never helps.
 */
import { createRequire } from "node:module"
import type * as Schema from "effect/Schema"
import { DecodeFailed } from "./errors.ts"

/**
 * effect/Schema is over half of what core would load from effect, and only
 * `schema()` codecs need it: it is loaded on their first use. Synchronously,
 * because codecs are: require() of an ES module (Node >= 22.12) returns the
 * same module instance a user's `import` of effect/Schema does.
 */
let schemaModule: typeof Schema | undefined
const loadSchema = (): typeof Schema => (schemaModule ??= createRequire(import.meta.url)("effect/Schema") as typeof Schema)

export interface Codec<T> {
  readonly contentType: string
  encode(value: T): Uint8Array
  decode(bytes: Uint8Array): T
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

export const json: Codec<unknown> = {
  contentType: "application/json",
  encode: (value) => encoder.encode(JSON.stringify(value === undefined ? null : value)),
  decode: (bytes) => {
    try {
      return JSON.parse(decoder.decode(bytes)) as unknown
    } catch (e) {
      throw new DecodeFailed({ contentType: "application/json", reason: e instanceof Error ? e.message : String(e) })
    }
  },
}

/** JSON typed by assertion only: use `schema` when the input is untrusted. */
export const jsonOf = <T>(): Codec<T> => json as Codec<T>

export const bytes: Codec<Uint8Array> = {
  contentType: "application/octet-stream",
  encode: (value) => value,
  decode: (b) => b,
}

export const text: Codec<string> = {
  contentType: "text/plain; charset=utf-8",
  encode: (value) => encoder.encode(value),
  decode: (b) => {
    try {
      return decoder.decode(b)
    } catch (e) {
      throw new DecodeFailed({ contentType: "text/plain", reason: e instanceof Error ? e.message : String(e) })
    }
  },
}

/** JSON validated by an effect Schema on decode (and checked on encode). */
export const schema = <T, E>(s: Schema.Codec<T, E>): Codec<T> => {
  const { decodeUnknownSync, encodeSync: encodeSyncOf } = loadSchema()
  const decodeUnknown = decodeUnknownSync(s)
  const encodeSync = encodeSyncOf(s)
  return {
    contentType: "application/json",
    encode: (value) => json.encode(encodeSync(value)),
    decode: (b) => {
      const raw = json.decode(b)
      try {
        return decodeUnknown(raw)
      } catch (e) {
        throw new DecodeFailed({ contentType: "application/json", reason: e instanceof Error ? e.message : String(e) })
      }
    },
  }
}

/** Default decoding when a subscription names no codec: by the message's content type. */
export const byContentType = (contentType: string): Codec<unknown> => {
  const base = contentType.split(";")[0]!.trim().toLowerCase()
  if (base === "application/json" || base.endsWith("+json")) return json
  if (base.startsWith("text/")) return text as Codec<unknown>
  return bytes as Codec<unknown>
}

const parseContentType = (ct: string): { readonly base: string; readonly params: ReadonlyMap<string, string> } => {
  const [base, ...rest] = ct.split(";")
  const params = new Map<string, string>()
  for (const p of rest) {
    const i = p.indexOf("=")
    if (i > 0) params.set(p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim().replace(/^"|"$/g, ""))
  }
  return { base: base!.trim().toLowerCase(), params }
}

/**
 * Does a message's content type fit what the codec expects? The media types
 * must be equal, and every parameter the codec names other than charset
 * (e.g. a protobuf `messageType`) must be present with the same value, so a
 * codec for one message type never decodes another by accident.
 */
export const contentTypeFits = (codec: Codec<unknown>, contentType: string): boolean => {
  const want = parseContentType(codec.contentType)
  const got = parseContentType(contentType)
  if (want.base !== got.base) return false
  for (const [k, v] of want.params) if (k !== "charset" && got.params.get(k) !== v) return false
  return true
}
