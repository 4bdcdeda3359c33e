/**
 * Encode-side check of a plain value against a message type. protobufjs's
 * fromObject coerces rather than refuses (an unknown enum name is dropped, a
 * number becomes a string), so a bad value would be published as a different
 * message; this names the first problem instead, and publish fails with it.
 */
import protobuf from "protobufjs"

/** Integer scalar types: 32-bit ones are numbers, 64-bit ones bigint (or safe integers) in plain objects. */
export const INT32 = new Set(["int32", "uint32", "sint32", "fixed32", "sfixed32"])
export const INT64 = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"])

const scalarProblem = (field: protobuf.FieldBase, v: unknown, path: string, depth: number): string | undefined => {
  const resolved = field.resolvedType
  if (resolved instanceof protobuf.Type) return valueProblem(resolved, v, path, depth + 1)
  if (resolved instanceof protobuf.Enum) {
    const known = typeof v === "string" ? v in resolved.values : typeof v === "number" && v in resolved.valuesById
    return known ? undefined : `${path}: ${JSON.stringify(v)} is not a ${resolved.name} value`
  }
  const t = field.type
  const ok =
    t === "string" ? typeof v === "string"
    : t === "bool" ? typeof v === "boolean"
    : t === "bytes" ? v instanceof Uint8Array
    : t === "double" || t === "float" ? typeof v === "number"
    : INT32.has(t) ? Number.isInteger(v)
    : INT64.has(t) ? typeof v === "bigint" || Number.isSafeInteger(v)
    : false
  return ok ? undefined : `${path}: expected ${t}, got ${typeof v}`
}

/** The first reason `value` is not a valid `type`, or undefined. */
export const valueProblem = (type: protobuf.Type, value: unknown, path = type.name, depth = 0): string | undefined => {
  if (depth > 100) return `${path}: nesting deeper than 100`
  if (typeof value !== "object" || value === null || Array.isArray(value)) return `${path}: expected an object`
  const record = value as Record<string, unknown>
  for (const field of type.fieldsArray) {
    const v = record[field.name]
    const at = `${path}.${field.name}`
    if (v === undefined || v === null) {
      if (field.required) return `${at}: required`
      continue
    }
    if (field.map) {
      if (typeof v !== "object" || Array.isArray(v)) return `${at}: expected an object (map)`
      for (const [k, item] of Object.entries(v)) {
        const p = scalarProblem(field, item, `${at}[${JSON.stringify(k)}]`, depth)
        if (p) return p
      }
    } else if (field.repeated) {
      if (!Array.isArray(v)) return `${at}: expected an array`
      for (let i = 0; i < v.length; i++) {
        const p = scalarProblem(field, v[i], `${at}[${i}]`, depth)
        if (p) return p
      }
    } else {
      const p = scalarProblem(field, v, at, depth)
      if (p) return p
    }
  }
  return undefined
}
