/**
 * Codecs turn typed payloads into bytes and back. A codec's `decode` throws
 * DecodeFailed (or anything, which core wraps) on bad input; core then sends
 * the message to the dead-letter destination at once, since retrying a
 * payload that cannot be decoded never helps.
 */
import type * as JsonSchemaModule from "effect/JsonSchema"
import type * as Schema from "effect/Schema"
import { DecodeFailed } from "./errors.ts"
import { lazyModule } from "./lazy.ts"
import { mediaTypeProblem, parseMediaType, ruleOf, type MediaTypeRule } from "./media-type.ts"

export type { MediaTypeRule } from "./media-type.ts"

/** effect/Schema is over half of what core would load from effect, and only `schema()` codecs need it (lazy.ts). */
const loadSchema = lazyModule<typeof Schema>("effect/Schema")
const loadJsonSchema = lazyModule<typeof JsonSchemaModule>("effect/JsonSchema")

/** A JSON Schema (draft-07) node. */
export interface JsonSchema {
  readonly [keyword: string]: unknown
}

/**
 * A payload's JSON Schema (draft-07), for documents such as AsyncAPI (`omnibus asyncapi`).
 * `schema` (and each definition) refers to named definitions as `#/definitions/<name>`.
 */
export interface PayloadSchema {
  readonly schema: JsonSchema
  readonly definitions: Readonly<Record<string, JsonSchema>>
}

export interface Codec<T> {
  /** What `encode` writes, sent as the message's content type. */
  readonly contentType: string
  /** What `decode` reads; default: ruleOf(contentType) in media-type.ts. */
  readonly accepts?: MediaTypeRule
  encode(value: T): Uint8Array
  decode(bytes: Uint8Array): T
  /** The payload's JSON Schema, where the codec knows it (`schema()`, protobuf codecs, text, bytes). */
  readonly jsonSchema?: () => PayloadSchema
}

const plain = (schema: JsonSchema): (() => PayloadSchema) => () => ({ schema, definitions: {} })

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

export const json: Codec<unknown> = {
  contentType: "application/json",
  // Any JSON value: the type is the caller's assertion (jsonOf), not checked.
  jsonSchema: plain({}),
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
  jsonSchema: plain({ type: "string", format: "binary" }),
  encode: (value) => value,
  decode: (b) => b,
}

export const text: Codec<string> = {
  contentType: "text/plain; charset=utf-8",
  jsonSchema: plain({ type: "string" }),
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
    // What travels is the schema's encoded side as JSON: effect's JSON Schema of it, as draft-07.
    jsonSchema: () => {
      const { schema: root, definitions } = loadJsonSchema().toDocumentDraft07(loadSchema().toJsonSchemaDocument(s))
      return { schema: root, definitions }
    },
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
  return mediaTypeProblem(codec.accepts ?? ruleOfCodec(codec), contentType)
}

/** The rule of a codec that declares none, built once per codec (it is checked on every delivery). */
const rules = new WeakMap<Codec<unknown>, MediaTypeRule>()
const ruleOfCodec = (codec: Codec<unknown>): MediaTypeRule => {
  let rule = rules.get(codec)
  if (rule === undefined) rules.set(codec, (rule = ruleOf(codec.contentType)))
  return rule
}

export const contentTypeFits = (codec: Codec<unknown>, contentType: string): boolean => contentTypeProblem(codec, contentType) === undefined
