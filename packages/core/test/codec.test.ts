import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { bytes, contentTypeFits, json, schema, text, type Codec } from "../src/codec.ts"

describe("contentTypeFits", () => {
  const proto = (t: string): Codec<unknown> => ({ contentType: `application/x-protobuf; messageType=${t}`, encode: () => new Uint8Array(), decode: () => undefined })
  it("compares media types and the parameters the codec names, not charset", () => {
    expect(contentTypeFits(json, "application/json; charset=utf-8")).toBe(true)
    expect(contentTypeFits(json, "text/plain")).toBe(false)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf; messageType=a.B")).toBe(true)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf; messageType=a.C")).toBe(false)
    expect(contentTypeFits(proto("a.B"), "application/x-protobuf")).toBe(false)
  })
})

describe("jsonSchema", () => {
  it("schema(): effect's JSON Schema of the encoded side as draft-07, named schemas as definitions", () => {
    const Address = Schema.Struct({ city: Schema.String }).annotate({ identifier: "Address" })
    const Customer = Schema.Struct({ id: Schema.String, addresses: Schema.Array(Address), joined: Schema.Date })
    expect(schema(Customer).jsonSchema?.()).toEqual({
      schema: {
        type: "object",
        properties: { id: { type: "string" }, addresses: { type: "array", items: { $ref: "#/definitions/Address" } }, joined: { type: "string" } },
        required: ["id", "addresses", "joined"],
        additionalProperties: true,
      },
      definitions: { Address: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: true } },
    })
  })

  it("text, bytes and untyped JSON", () => {
    expect(text.jsonSchema?.()).toEqual({ schema: { type: "string" }, definitions: {} })
    expect(bytes.jsonSchema?.()).toEqual({ schema: { type: "string", format: "binary" }, definitions: {} })
    expect(json.jsonSchema?.()).toEqual({ schema: {}, definitions: {} })
  })
})
