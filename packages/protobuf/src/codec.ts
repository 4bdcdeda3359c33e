/**
 * A core Codec over a protobufjs message type. Decoding never hands a
 * handler something that is not a valid message of the type: bad bytes throw
 * core's DecodeFailed, which core dead-letters at once (no retries).
 */
import { DecodeFailed, type Codec, type MediaTypeRule } from "@omnibus/core"
import type protobuf from "protobufjs"
import { valueProblem } from "./check.ts"
import { protobufJsonSchema } from "./json-schema.ts"
import { checkWire, type WireOptions } from "./wire.ts"

/**
 * The media type written: application/protobuf, the IANA-registered one (default), or
 * application/x-protobuf, what Omnibus wrote before, for consumers not yet upgraded
 * (they accept only that). Both are always read (docs/architecture.md, "Content types").
 */
export type ProtobufMediaType = "application/protobuf" | "application/x-protobuf"

export interface ProtobufCodecOptions extends WireOptions {
  readonly mediaType?: ProtobufMediaType
}

const fullNameOf = (type: protobuf.Type): string => type.fullName.replace(/^\./, "")

/** The content type a codec of `type` writes, e.g. "application/protobuf; messageType=EmployeeMessage". */
export const protobufContentType = (type: protobuf.Type, mediaType: ProtobufMediaType = "application/protobuf"): string =>
  `${mediaType}; messageType=${fullNameOf(type)}`

/** Spellings of protobuf binary in the wild: the registered type, its deprecated aliases, Google's vnd type. */
const PROTOBUF_TYPES = ["application/protobuf", "application/x-protobuf", "application/x-protobuffer", "application/vnd.google.protobuf"]
/** Parameters producers use to name the message type (Omnibus: messageType; Spring, Prometheus: proto). */
const TYPE_PARAMS = ["messagetype", "proto", "type"]

/**
 * What a codec of `type` decodes: any protobuf spelling, or no content type / octet-stream
 * (plain producers often set none), unless the message declares another message type
 * (by full name, optionally with a leading dot or a type URL prefix) or a non-binary encoding.
 */
export const protobufAccepts = (type: protobuf.Type): MediaTypeRule => {
  const name = fullNameOf(type)
  const names = [name, `.${name}`, `type.googleapis.com/${name}`]
  return {
    types: PROTOBUF_TYPES,
    untyped: true,
    params: { ...Object.fromEntries(TYPE_PARAMS.map((p) => [p, names])), encoding: ["binary"] },
  }
}

/**
 * Plain objects in and out: 64-bit integers as bigint, enums by name, bytes
 * as Uint8Array, repeated fields and maps always present (empty when absent),
 * other fields absent when not on the wire.
 */
const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt, enums: String, arrays: true, objects: true }

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const protobufCodec = <T>(type: protobuf.Type, options: ProtobufCodecOptions = {}): Codec<T> => {
  type.resolveAll()
  const contentType = protobufContentType(type, options.mediaType)
  const fail = (why: string) => new DecodeFailed({ contentType, reason: why })
  return {
    contentType,
    accepts: protobufAccepts(type),
    jsonSchema: () => protobufJsonSchema(type),
    encode: (value) => {
      const problem = valueProblem(type, value)
      if (problem !== undefined) throw new TypeError(`not a valid ${type.name}: ${problem}`)
      // fromObject converts bigint and enum names into protobufjs's own representation.
      return type.encode(type.fromObject(value as Record<string, unknown>)).finish()
    },
    decode: (bytes) => {
      let message: protobuf.Message
      try {
        checkWire(type, bytes, options)
        message = type.decode(bytes)
      } catch (e) {
        throw fail(reason(e))
      }
      const problem = type.verify(message)
      if (problem !== null) throw fail(problem)
      return type.toObject(message, TO_OBJECT) as T
    },
  }
}
