import { describe, expect, it } from "vitest"
import { AdapterHeaders, attemptOf, failureFromHeaders, failureToHeaders, firstFailureOf, fromWireHeaders, Wire } from "../src/wire.ts"

describe("fromWireHeaders", () => {
  it("keeps every reserved name out of the user headers but the RPC remote error", () => {
    const headers = {
      [Wire.id]: "m-1",
      [Wire.routingKey]: "a.b",
      [Wire.contentType]: "application/json",
      [Wire.attempt]: "3",
      [Wire.firstFailure]: "1700000000000",
      [Wire.error]: "boom",
      [AdapterHeaders.kafka.due]: "1700000000001",
      [AdapterHeaders.nats.blob]: "1,2",
      [Wire.remoteError]: '{"name":"E","message":"m"}',
      tenant: "acme",
    }
    const e = fromWireHeaders(headers, new Uint8Array(), { id: "x", routingKey: "x" })
    expect(e.headers).toEqual({ tenant: "acme", [Wire.remoteError]: '{"name":"E","message":"m"}' })
    expect([e.id, e.routingKey, e.contentType]).toEqual(["m-1", "a.b", "application/json"])
  })
})

describe("retry and failure headers", () => {
  it("reads the attempt and first failure, with defaults for foreign or corrupt values", () => {
    expect(attemptOf({ [Wire.attempt]: "4" })).toBe(4)
    expect(attemptOf({ [Wire.attempt]: "0" })).toBe(1)
    expect(attemptOf({})).toBe(1)
    expect(firstFailureOf({ [Wire.firstFailure]: "1700000000000" })).toBe(1_700_000_000_000)
    expect(firstFailureOf({ [Wire.firstFailure]: "x" })).toBeUndefined()
  })

  it("round-trips failure metadata; missing fields take the group and the given defaults", () => {
    const f = { error: "boom", errorName: "TypeError", errorCode: "E1", attempts: 3, firstFailureAt: 10, lastFailureAt: 20, group: "g" }
    expect(failureFromHeaders(failureToHeaders(f), "other")).toEqual(f)
    expect(failureFromHeaders({}, "g")).toEqual({ error: "", errorName: "Error", errorCode: undefined, attempts: 0, firstFailureAt: 0, lastFailureAt: 0, group: "g" })
    expect(failureFromHeaders({}, "g", { attempts: 1, at: 99 })).toMatchObject({ attempts: 1, firstFailureAt: 99, lastFailureAt: 99 })
  })
})
