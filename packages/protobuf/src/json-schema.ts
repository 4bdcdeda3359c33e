/**
 * A message type's JSON Schema (draft-07) from its descriptor: the plain
 * object protobufCodec hands over and takes (camelCase fields, enums by name,
 * 64-bit integers as integers, bytes as base64 in JSON renderings, repeated
 * fields as arrays, maps as objects). Every message type it reaches is a
 * definition named by its full name, so recursive types stay finite. Used
 * for documents such as AsyncAPI (`omnibus asyncapi`).
 */
import type { JsonSchema, PayloadSchema } from "@omnibus/core"
import protobuf from "protobufjs"
import { INT32, INT64 } from "./check.ts"

const fullNameOf = (type: protobuf.Type | protobuf.Enum): string => type.fullName.replace(/^\./, "")

/** A doc comment as the description; beside a $ref (whose siblings draft-07 ignores) through allOf. */
const described = (schema: JsonSchema, comment: string | null): JsonSchema => {
  if (!comment) return schema
  return "$ref" in schema ? { description: comment, allOf: [schema] } : { ...schema, description: comment }
}

/** The JSON Schema of `root`'s plain objects: a $ref to its definition, with every message type it reaches (protobufCodec's jsonSchema). */
export const protobufJsonSchema = (root: protobuf.Type): PayloadSchema => {
  root.resolveAll()
  const definitions: Record<string, JsonSchema> = {}
  const ref = (type: protobuf.Type): JsonSchema => {
    const name = fullNameOf(type)
    if (!(name in definitions)) {
      definitions[name] = {} // claimed before the fields: a recursive type refers to itself
      definitions[name] = message(type)
    }
    return { $ref: `#/definitions/${name}` }
  }
  const value = (field: protobuf.FieldBase): JsonSchema => {
    const resolved = field.resolvedType
    if (resolved instanceof protobuf.Type) return ref(resolved)
    if (resolved instanceof protobuf.Enum) return { type: "string", enum: Object.keys(resolved.values), title: fullNameOf(resolved) }
    const t = field.type
    if (t === "string") return { type: "string" }
    if (t === "bool") return { type: "boolean" }
    if (t === "bytes") return { type: "string", contentEncoding: "base64" }
    if (t === "double" || t === "float") return { type: "number", format: t }
    if (INT32.has(t)) return { type: "integer", format: t.startsWith("u") || t === "fixed32" ? "uint32" : "int32" }
    if (INT64.has(t)) return { type: "integer", format: t.startsWith("u") || t === "fixed64" ? "uint64" : "int64" }
    return {}
  }
  const message = (type: protobuf.Type): JsonSchema => {
    const properties: Record<string, JsonSchema> = {}
    for (const field of type.fieldsArray) {
      const item = value(field)
      const schema = field.map ? { type: "object", additionalProperties: item } : field.repeated ? { type: "array", items: item } : item
      properties[field.name] = described(schema, field.comment)
    }
    const required = type.fieldsArray.filter((f) => f.required).map((f) => f.name)
    return described({ type: "object", title: fullNameOf(type), properties, ...(required.length > 0 ? { required } : {}) }, type.comment)
  }
  return { schema: ref(root), definitions }
}
