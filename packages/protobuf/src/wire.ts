/**
 * A strict walk over protobuf wire format, run before protobufjs decodes.
 * protobufjs's generated decoders trust their input: they read a known field
 * with whatever wire type it arrived with (bytes `08 00` become an empty
 * string for a string field), keep invalid UTF-8 as replacement characters,
 * and accept a stray end-group tag. Any of those means "not a message of this
 * type", which must become DecodeFailed (dead letter), not a wrong payload.
 */
import type protobuf from "protobufjs"

/** Nesting deeper than this is refused, as protobuf's own parsers do, so a crafted message cannot exhaust the stack. */
const MAX_DEPTH = 100

const VARINT = 0
const I64 = 1
const LEN = 2
const SGROUP = 3
const EGROUP = 4
const I32 = 5

const SCALAR_WIRE: Readonly<Record<string, number>> = {
  double: I64, fixed64: I64, sfixed64: I64,
  float: I32, fixed32: I32, sfixed32: I32,
  int32: VARINT, int64: VARINT, uint32: VARINT, uint64: VARINT, sint32: VARINT, sint64: VARINT, bool: VARINT,
  string: LEN, bytes: LEN,
}

export interface WireOptions {
  /** Refuse fields the type does not declare (default false: protobuf skips them, so newer producers stay readable). */
  readonly rejectUnknownFields?: boolean
}

export class WireError extends Error {
  override readonly name = "WireError"
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Throws WireError when `bytes` is not a well-formed encoding of `type`. */
export const checkWire = (type: protobuf.Type, bytes: Uint8Array, options: WireOptions = {}): void => {
  new Walker(bytes, options.rejectUnknownFields ?? false).message(type, 0, bytes.length, 0, undefined)
}

class Walker {
  pos = 0
  readonly bytes: Uint8Array
  readonly rejectUnknown: boolean

  constructor(bytes: Uint8Array, rejectUnknown: boolean) {
    this.bytes = bytes
    this.rejectUnknown = rejectUnknown
  }

  fail(reason: string): never {
    throw new WireError(`${reason} at offset ${this.pos}`)
  }

  varint(end: number): bigint {
    let result = 0n
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) this.fail("truncated varint")
      const b = this.bytes[this.pos++]!
      result |= BigInt(b & 0x7f) << BigInt(7 * i)
      if ((b & 0x80) === 0) return result
    }
    return this.fail("varint longer than 10 bytes")
  }

  skip(n: number, end: number): void {
    if (n > end - this.pos) this.fail(`length ${n} runs past the end of the message`)
    this.pos += n
  }

  length(end: number): number {
    const n = this.varint(end)
    if (n > BigInt(end - this.pos)) this.fail(`length ${n} runs past the end of the message`)
    return Number(n)
  }

  /**
   * Walks fields until `end`, or until the end-group tag of `group` when
   * walking a group's body. Returns at the end-group tag (already consumed).
   */
  message(type: protobuf.Type | undefined, start: number, end: number, depth: number, group: number | undefined): void {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`)
    this.pos = start
    while (this.pos < end) {
      const tag = this.varint(end)
      const fieldNo = Number(tag >> 3n)
      const wire = Number(tag & 7n)
      if (fieldNo === 0 || tag >> 3n > 0x1fffffffn) this.fail(`invalid field number ${tag >> 3n}`)
      if (wire === EGROUP) {
        if (group === fieldNo) return
        this.fail(`unexpected end-group tag for field ${fieldNo}`)
      }
      const field = type?.fieldsById[fieldNo]
      if (type !== undefined && field === undefined && this.rejectUnknown) this.fail(`unknown field ${fieldNo} in ${type.fullName.replace(/^\./, "")}`)
      if (field === undefined) this.skipValue(wire, fieldNo, end, depth)
      else this.field(field, wire, fieldNo, end, depth)
    }
    if (group !== undefined) this.fail(`group ${group} has no end-group tag`)
  }

  field(field: protobuf.Field, wire: number, fieldNo: number, end: number, depth: number): void {
    field.resolve()
    if (field.map) {
      if (wire !== LEN) this.fail(`map field ${field.name} has wire type ${wire}`)
      const n = this.length(end)
      const entryEnd = this.pos + n
      this.mapEntry(field as unknown as protobuf.MapField, entryEnd, depth)
      return
    }
    const resolved = field.resolvedType
    if (resolved !== null && "fieldsById" in resolved) {
      // A message field: length-delimited, or a group (proto2 groups / editions' DELIMITED encoding).
      if (wire === LEN) {
        const n = this.length(end)
        const after = this.pos + n
        this.message(resolved, this.pos, after, depth + 1, undefined)
        return
      }
      if (wire === SGROUP) {
        this.message(resolved, this.pos, end, depth + 1, fieldNo)
        return
      }
      this.fail(`message field ${field.name} has wire type ${wire}`)
    }
    const expected = resolved !== null ? VARINT : SCALAR_WIRE[field.type]
    if (expected === undefined) this.fail(`field ${field.name} has unsupported type ${field.type}`)
    if (wire === expected) {
      this.scalar(field.type, wire, end)
      return
    }
    // Repeated numeric fields may arrive packed (one length-delimited run) whatever the .proto says.
    if (field.repeated && wire === LEN && expected !== LEN) {
      const n = this.length(end)
      const runEnd = this.pos + n
      while (this.pos < runEnd) this.scalar(field.type, expected, runEnd)
      return
    }
    this.fail(`field ${field.name} (${field.type}) has wire type ${wire}, expected ${expected}`)
  }

  mapEntry(field: protobuf.MapField, end: number, depth: number): void {
    // Map entries are messages { key = 1; value = 2; }; check both against the map's declared types.
    while (this.pos < end) {
      const tag = this.varint(end)
      const fieldNo = Number(tag >> 3n)
      const wire = Number(tag & 7n)
      if (fieldNo === 1) {
        if (wire !== SCALAR_WIRE[field.keyType]) this.fail(`map key of ${field.name} has wire type ${wire}`)
        this.scalar(field.keyType, wire, end)
      } else if (fieldNo === 2) {
        const resolved = field.resolvedType
        if (resolved !== null && "fieldsById" in resolved) {
          if (wire !== LEN) this.fail(`map value of ${field.name} has wire type ${wire}`)
          const n = this.length(end)
          const after = this.pos + n
          this.message(resolved, this.pos, after, depth + 1, undefined)
        } else {
          const expected = resolved !== null ? VARINT : SCALAR_WIRE[field.type]
          if (wire !== expected) this.fail(`map value of ${field.name} has wire type ${wire}`)
          this.scalar(field.type, wire, end)
        }
      } else {
        this.fail(`map entry of ${field.name} has field ${fieldNo}`)
      }
    }
  }

  scalar(type: string, wire: number, end: number): void {
    if (type === "string") {
      const n = this.length(end)
      try {
        utf8.decode(this.bytes.subarray(this.pos, this.pos + n))
      } catch {
        this.fail("string is not valid UTF-8")
      }
      this.pos += n
      return
    }
    this.skipValue(wire, 0, end, 0)
  }

  /** Skips one value of the given wire type (unknown fields, numbers, bytes). */
  skipValue(wire: number, fieldNo: number, end: number, depth: number): void {
    switch (wire) {
      case VARINT:
        this.varint(end)
        return
      case I64:
        this.skip(8, end)
        return
      case I32:
        this.skip(4, end)
        return
      case LEN:
        this.skip(this.length(end), end)
        return
      case SGROUP:
        this.message(undefined, this.pos, end, depth + 1, fieldNo)
        return
      default:
        this.fail(`invalid wire type ${wire}`)
    }
  }
}
