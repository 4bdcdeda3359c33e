/**
 * protobufJsonSchema (the payload schema of protobufCodec, used by
 * `omnibus asyncapi`): field types, repeated fields, maps, enums, required
 * fields, nested and recursive messages. Every value the codec decodes must
 * validate against it: checked by @asyncapi/parser in packages/cli; here, the
 * schema's shape.
 */
import { describe, expect, it } from "vitest"
import { parseProto, protobufCodec, protobufJsonSchema } from "../src/index.ts"

const root = parseProto(`syntax = "proto2";
package shop;
/** A line of an order. */
message Line { required string sku = 1; optional uint32 quantity = 2; optional double price = 3; }
enum Status { NEW = 0; PAID = 1; }
message Order {
  optional int64 id = 1;
  repeated Line lines = 2;
  map<string, uint64> totals = 3;
  optional Status status = 4;
  optional bytes signature = 5;
  optional bool gift = 6;
  /** The order this one replaces. */
  optional Order previous = 7;
  optional fixed32 checksum = 8;
}`)

describe("protobufJsonSchema", () => {
  const { schema, definitions } = protobufJsonSchema(root.lookupType("shop.Order"))

  it("refers to a definition per message type, by full name (recursion stays finite)", () => {
    expect(schema).toEqual({ $ref: "#/definitions/shop.Order" })
    expect(Object.keys(definitions).sort()).toEqual(["shop.Line", "shop.Order"])
    expect(definitions["shop.Order"]?.properties).toMatchObject({ previous: { allOf: [{ $ref: "#/definitions/shop.Order" }] } })
  })

  it("maps each field as the codec's plain objects carry it", () => {
    expect(definitions["shop.Order"]).toEqual({
      type: "object",
      title: "shop.Order",
      properties: {
        id: { type: "integer", format: "int64" },
        lines: { type: "array", items: { $ref: "#/definitions/shop.Line" } },
        totals: { type: "object", additionalProperties: { type: "integer", format: "uint64" } },
        status: { type: "string", enum: ["NEW", "PAID"], title: "shop.Status" },
        signature: { type: "string", contentEncoding: "base64" },
        gift: { type: "boolean" },
        previous: { description: "The order this one replaces.", allOf: [{ $ref: "#/definitions/shop.Order" }] },
        checksum: { type: "integer", format: "uint32" },
      },
    })
  })

  it("keeps required fields and doc comments", () => {
    expect(definitions["shop.Line"]).toMatchObject({ required: ["sku"], description: "A line of an order.", properties: { quantity: { format: "uint32" }, price: { type: "number" } } })
  })

  it("is the jsonSchema of protobufCodec", () => {
    expect(protobufCodec(root.lookupType("shop.Order")).jsonSchema?.()).toEqual({ schema, definitions })
  })
})
