/** URL and option parsing (no broker). */
import { describe, expect, it } from "vitest"
import { parseConfig } from "../src/config.ts"

describe("kafka config: dead-link options", () => {
  it("defaults: heartbeat 5 s, request timeout 30 s", () => {
    const c = parseConfig("kafka://127.0.0.1:9092", {})
    expect([c.connection.heartbeatMs, c.connection.requestTimeoutMs]).toEqual([5_000, 30_000])
  })

  it("takes heartbeatMs and requestTimeoutMs from the options or the URL query (the query wins)", () => {
    expect(parseConfig("kafka://127.0.0.1:9092", { heartbeatMs: 1_000, requestTimeoutMs: 8_000 }).connection).toMatchObject({ heartbeatMs: 1_000, requestTimeoutMs: 8_000 })
    expect(parseConfig("kafka://127.0.0.1:9092?heartbeatMs=2000&requestTimeoutMs=9000", { heartbeatMs: 1_000 }).connection).toMatchObject({ heartbeatMs: 2_000, requestTimeoutMs: 9_000 })
  })

  it("heartbeatMs 0 turns the heartbeat off; negative or fractional values are InvalidOptions", () => {
    expect(parseConfig("kafka://127.0.0.1:9092?heartbeatMs=0", {}).connection.heartbeatMs).toBe(0)
    for (const [url, options] of [
      ["kafka://127.0.0.1:9092", { heartbeatMs: -1 }],
      ["kafka://127.0.0.1:9092?heartbeatMs=1.5", {}],
      ["kafka://127.0.0.1:9092", { requestTimeoutMs: 0 }],
    ] as const) {
      expect(() => parseConfig(url, options), JSON.stringify([url, options])).toThrow(expect.objectContaining({ _tag: "InvalidOptions" }))
    }
  })
})

describe("kafka config: RPC session", () => {
  it("rpcLeaseMs defaults to leaseMs and can be set on its own (option or URL query)", () => {
    expect(parseConfig("kafka://127.0.0.1:9092", {}).rpcLeaseMs).toBe(10_000)
    expect(parseConfig("kafka://127.0.0.1:9092", { leaseMs: 4_000 }).rpcLeaseMs).toBe(4_000)
    expect(parseConfig("kafka://127.0.0.1:9092", { leaseMs: 4_000, rpcLeaseMs: 1_000 })).toMatchObject({ leaseMs: 4_000, rpcLeaseMs: 1_000 })
    expect(parseConfig("kafka://127.0.0.1:9092?rpcLeaseMs=1500", {}).rpcLeaseMs).toBe(1_500)
  })
})

describe("kafka config: CloudEvents", () => {
  it("off by default; on by option or URL query, the events topic as the default source", () => {
    expect(parseConfig("kafka://127.0.0.1:9092", {}).cloudEvents).toBeUndefined()
    expect(parseConfig("kafka://127.0.0.1:9092?cloudEvents=true&prefix=shop", {}).cloudEvents).toEqual({ source: "omnibus://kafka/shop.events" })
    expect(parseConfig("kafka://127.0.0.1:9092?cloudEventsSource=/hr", { cloudEvents: true }).cloudEvents).toEqual({ source: "/hr" })
    expect(() => parseConfig("kafka://127.0.0.1:9092?cloudEvents=1", {})).toThrow(expect.objectContaining({ _tag: "InvalidOptions" }))
  })
})
