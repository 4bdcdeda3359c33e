/**
 * Codecs turn typed payloads into bytes and back. A codec's `decode` throws
 * DecodeFailed (or anything, which core wraps) on bad input; core then sends
 * the message to the dead-letter destination at once, since retrying a
 * payload that cannot be decoded never helps.
 */
import { createRequire } from "node:module"
import type * as Schema from "effect/Schema"
import { DecodeFailed } from "./errors.ts"
import { mediaTypeProblem, parseMediaType, ruleOf, type MediaTypeRule } from "./media-type.ts"

export type { MediaTypeRule } from "./media-type.ts"

/**
 * effect/Schema is over half of what core would load from effect, and only
 * `schema()` codecs need it: it is loaded on their first use. Synchronously,
 * because codecs are: require() of an ES module (Node >= 22.12) returns the
 * same module instance a user's `import` of effect/Schema does.
 */
let schemaModule: typeof Schema | undefined
const loadSchema = (): typeof Schema => (schemaModule ??= createRequire(import.meta.url)("effect/Schema") as typeof Schema)

export interface Codec<T> {
  /** What `encode` writes, sent as the message's content type. */
  readonly contentType: string
  /** What `decode` reads; default: ruleOf(contentType) in media-type.ts. */
  readonly accepts?: MediaTypeRule
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
  const m = parseMediaType(contentType)
  if (m !== undefined && (m.essence === "application/json" || m.suffix === "json")) return json
  if (m !== undefined && m.essence.startsWith("text/")) return text as Codec<unknown>
  return bytes as Codec<unknown>
}

/**
 * Why a message's content type is not for the codec, or undefined when it is
 * (the codec's `accepts` rule, media-type.ts). A codec for one message type never
 * decodes a message that declares another.
 */
export const contentTypeProblem = (codec: Codec<unknown>, contentType: string): string | undefined => {
  return mediaTypeProblem(codec.accepts ?? ruleOf(codec.contentType), contentType)
}

export const contentTypeFits = (codec: Codec<unknown>, contentType: string): boolean => contentTypeProblem(codec, contentType) === undefined
