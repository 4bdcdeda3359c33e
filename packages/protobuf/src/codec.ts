/**
 * A core Codec over a protobufjs message type. Decoding never hands a
 * handler something that is not a valid message of the type: bad bytes throw
 * core's DecodeFailed, which core dead-letters at once (no retries).
 */
import { DecodeFailed, type Codec } from "@omnibus/core"
import type protobuf from "protobufjs"
import { valueProblem } from "./check.ts"
import { checkWire, type WireOptions } from "./wire.ts"

export interface ProtobufCodecOptions extends WireOptions {}

/** The content type a codec of `type` writes, e.g. "application/x-protobuf; messageType=EmployeeMessage". */
export const protobufContentType = (type: protobuf.Type): string =>
  `application/x-protobuf; messageType=${type.fullName.replace(/^\./, "")}`

/**
 * Plain objects in and out: 64-bit integers as bigint, enums by name, bytes
 * as Uint8Array, repeated fields and maps always present (empty when absent),
 * other fields absent when not on the wire.
 */
const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt, enums: String, arrays: true, objects: true }

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const protobufCodec = <T>(type: protobuf.Type, options: ProtobufCodecOptions = {}): Codec<T> => {
  type.resolveAll()
  const contentType = protobufContentType(type)
  const fail = (why: string) => new DecodeFailed({ contentType, reason: why })
  return {
    contentType,
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
