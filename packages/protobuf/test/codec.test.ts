import { codecs, DecodeFailed, type Codec } from "@omnibus/core"
import fc from "fast-check"
import protobuf from "protobufjs"
import { describe, expect, it } from "vitest"
import { protobufCodec, protobufContentType } from "../src/index.ts"
import { OrderCodec, type Order } from "./fixtures/kitchen.generated.ts"

interface Employee {
  readonly guid?: string
  readonly firstName?: string
  readonly lastName?: string
}

const { root } = protobuf.parse(`syntax = "proto2";
message EmployeeMessage { optional string guid = 1; optional string first_name = 2; optional string last_name = 3; }`)
const employeeType = root.lookupType("EmployeeMessage")
const employee = protobufCodec<Employee>(employeeType)

const decodeError = (f: () => unknown): DecodeFailed => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeFailed)
    return e as DecodeFailed
  }
  throw new Error("expected DecodeFailed, but decode succeeded")
}

const bytesOf = (...b: Array<number>) => new Uint8Array(b)

describe("protobufCodec", () => {
  it("names the message type in its content type", () => {
    expect(employee.contentType).toBe("application/protobuf; messageType=EmployeeMessage")
    expect(protobufContentType(root.lookupType("EmployeeMessage"))).toBe(employee.contentType)
    expect(protobufCodec(employeeType, { mediaType: "application/x-protobuf" }).contentType).toBe("application/x-protobuf; messageType=EmployeeMessage")
  })

  it("accepts what protobuf producers send, and what Omnibus sent before", () => {
    const accepted = [
      "application/protobuf",
      "application/protobuf; messageType=EmployeeMessage",
      "application/x-protobuf; messageType=EmployeeMessage", // Omnibus before application/protobuf
      "application/x-protobuf",
      "application/x-protobuffer",
      "application/vnd.google.protobuf; proto=EmployeeMessage; encoding=binary",
      "application/x-protobuf; proto=.EmployeeMessage",
      'application/protobuf; type="type.googleapis.com/EmployeeMessage"',
      "Application/Protobuf; MessageType=EmployeeMessage",
      "application/octet-stream",
      "",
    ]
    for (const ct of accepted) expect(codecs.contentTypeProblem(employee as Codec<unknown>, ct), ct).toBeUndefined()
  })

  it("refuses other media types and messages that declare another message type or encoding", () => {
    const refused: Array<[string, RegExp]> = [
      ["application/protobuf; messageType=other.EmployeeMessage", /declares messagetype=other.EmployeeMessage/],
      ["application/x-protobuf; messageType=employeemessage", /declares messagetype=employeemessage/],
      ["application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily", /declares proto=io.prometheus.client.MetricFamily/],
      ["application/protobuf; encoding=delimited", /declares encoding=delimited/],
      ["application/json", /media type application\/json is not decoded here/],
      ["application/protobuf+json", /media type application\/protobuf\+json is not decoded here/],
      ["text/plain", /not decoded here/],
    ]
    for (const [ct, why] of refused) expect(codecs.contentTypeProblem(employee as Codec<unknown>, ct), ct).toMatch(why)
  })

  it("round-trips any employee, absent fields staying absent", () => {
    const arb = fc.record({ guid: fc.string(), firstName: fc.string({ unit: "grapheme" }), lastName: fc.string({ unit: "binary" }) }, { requiredKeys: [] })
    fc.assert(fc.property(arb, (e) => {
      expect(employee.decode(employee.encode(e))).toStrictEqual({ ...e })
    }))
  })

  it("writes the standard protobuf encoding (readable by any protobuf implementation)", () => {
    const bytes = employee.encode({ guid: "g", lastName: "Hopper" })
    expect([...bytes]).toEqual([0x0a, 0x01, 0x67, 0x1a, 0x06, ...new TextEncoder().encode("Hopper")])
  })

  it("round-trips 64-bit integers, enums, maps, bytes, nested and repeated fields", () => {
    const order: Order = {
      id: "o-1",
      totalCents: 9_007_199_254_740_993n, // above 2^53: would lose precision as a number
      tableNumbers: [1, 2, 300],
      extras: { sauce: 2 },
      note: new Uint8Array([0, 255]),
      station: "PASTRY",
      main: { name: "soup", grams: 400 },
      sides: [{ name: "bread" }, {}],
      rush: false,
      tip: 1.5,
    }
    const back = OrderCodec.decode(OrderCodec.encode(order))
    expect({ ...back, note: [...back.note!] }).toStrictEqual({ ...order, note: [0, 255] })
    expect(OrderCodec.decode(OrderCodec.encode({ id: "x", tableNumbers: [], extras: {}, sides: [] }))).toStrictEqual({ id: "x", tableNumbers: [], extras: {}, sides: [] })
  })

  it("refuses to encode a value that is not a valid message", () => {
    expect(() => OrderCodec.encode({ id: "x", tableNumbers: [], extras: {}, sides: [], station: "BAR" as never })).toThrow(/station/)
    expect(() => employee.encode({ guid: 42 as never })).toThrow(/EmployeeMessage.guid: expected string/)
    expect(() => OrderCodec.encode({ tableNumbers: [], extras: {}, sides: [] } as never)).toThrow(/id: required/)
    expect(() => OrderCodec.encode({ id: "x", tableNumbers: [1.5], extras: {}, sides: [] })).toThrow(/tableNumbers\[0\]/)
  })

  it("random bytes are either rejected with DecodeFailed or decode to a valid message — never anything else", () => {
    let rejected = 0
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (b) => {
      let value: Employee
      try {
        value = employee.decode(b)
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeFailed)
        rejected++
        return
      }
      // Accepted: it must be a well-formed message whose fields survive a re-encode.
      expect(employeeType.verify(value as Record<string, unknown>)).toBeNull()
      expect(employee.decode(employee.encode(value))).toStrictEqual(value)
    }), { numRuns: 2000 })
    expect(rejected).toBeGreaterThan(1800) // ~97% in practice: short random runs sometimes are valid messages
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), (b) => {
      try {
        OrderCodec.decode(b)
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeFailed)
      }
    }), { numRuns: 2000 })
  })

  it.each([
    ["text", new TextEncoder().encode("hello world garbage")],
    ["JSON of the same message", new TextEncoder().encode(JSON.stringify({ guid: "g", firstName: "Ada" }))],
    ["0xff bytes", new Uint8Array(16).fill(0xff)],
    ["truncated string", bytesOf(0x0a, 0x05, 0x61)],
    ["field number 0", bytesOf(0x02, 0x00)],
    ["truncated varint", bytesOf(0x48, 0x80)],
    ["wire type 7", bytesOf(0x0f)],
    // The cases below are accepted by protobufjs's own decoder (the test after this one proves it).
    ["a string field sent as a varint", bytesOf(0x08, 0x00)],
    ["invalid UTF-8 in a string", bytesOf(0x0a, 0x02, 0xc3, 0x28)],
    ["a stray end-group tag", bytesOf(0x0a, 0x01, 0x61, 0x0c)],
  ])("rejects %s with DecodeFailed naming the content type", (_, b) => {
    const e = decodeError(() => employee.decode(b))
    expect(e.contentType).toBe(employee.contentType)
    expect(e.reason.length).toBeGreaterThan(0)
  })

  it("catches what protobufjs alone silently accepts", () => {
    expect(() => employeeType.decode(bytesOf(0x08, 0x00))).not.toThrow()
    expect(employeeType.toObject(employeeType.decode(bytesOf(0x0a, 0x02, 0xc3, 0x28))).guid).toContain("\ufffd")
  })

  it("rejects a proto2 message missing a required field", () => {
    const e = decodeError(() => OrderCodec.decode(bytesOf(0x10, 0x05))) // total_cents only, no id
    expect(e.reason).toMatch(/id/)
  })

  it("rejects a nested message with a wrong wire type inside", () => {
    // Order{id:"x", main: Dish{ name as varint }}
    decodeError(() => OrderCodec.decode(bytesOf(0x0a, 0x01, 0x78, 0x3a, 0x02, 0x08, 0x01)))
  })

  it("accepts repeated numbers packed or unpacked, as protobuf requires", () => {
    const packed = bytesOf(0x0a, 0x01, 0x78, 0x1a, 0x02, 0x01, 0x02)
    const unpacked = bytesOf(0x0a, 0x01, 0x78, 0x18, 0x01, 0x18, 0x02)
    expect(OrderCodec.decode(packed).tableNumbers).toEqual([1, 2])
    expect(OrderCodec.decode(unpacked).tableNumbers).toEqual([1, 2])
  })

  it("refuses absurd nesting instead of overflowing the stack", () => {
    // Unknown group field 15 nested 10 000 times.
    const b = new Uint8Array([0x0a, 0x01, 0x78, ...new Array(10_000).fill(0x7b), ...new Array(10_000).fill(0x7c)])
    expect(decodeError(() => OrderCodec.decode(b)).reason).toMatch(/nesting/)
  })

  it("skips unknown fields by default (a newer producer stays readable) and rejects them on request", () => {
    const newer = bytesOf(0x0a, 0x01, 0x67, 0xa0, 0x01, 0x07) // guid "g" + field 20 = 7
    expect(employee.decode(newer)).toStrictEqual({ guid: "g" })
    const strict = protobufCodec<Employee>(employeeType, { rejectUnknownFields: true })
    expect(decodeError(() => strict.decode(newer)).reason).toMatch(/unknown field 20/)
  })
})
