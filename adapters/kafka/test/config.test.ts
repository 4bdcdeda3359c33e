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

describe("kafka config: event topics", () => {
  const topicsOf = (eventTopics: unknown) => parseConfig("kafka://127.0.0.1:9092?prefix=shop", { eventTopics }).eventTopics

  it("without a mapping every key is in <prefix>.events and every group reads it", () => {
    const t = topicsOf(undefined)
    expect([t.topicOf("orders.placed"), t.topicsFor(["orders.#", "#"])]).toEqual(["shop.events", ["shop.events"]])
  })

  it("publishes a key to the topic of the pattern it matches, others to <prefix>.events", () => {
    const t = topicsOf({ "orders.#": "orders", "payments.*": "payments", "audit.log": "legacy-audit" })
    expect(["orders.placed", "orders", "orders.eu.placed", "payments.refunded", "payments.card.refunded", "audit.log", "users.created"].map((k) => t.topicOf(k))).toEqual([
      "orders", "orders", "orders", "payments", "shop.events", "legacy-audit", "shop.events",
    ])
  })

  it("a group reads the topics its patterns can reach, and <prefix>.events unless a mapped pattern covers the pattern", () => {
    const t = topicsOf({ "orders.#": "orders", "payments.*": "payments", "audit.log": "legacy-audit" })
    expect(t.topicsFor(["orders.placed"])).toEqual(["orders"])
    expect(t.topicsFor(["orders.*", "payments.refunded"])).toEqual(["orders", "payments"])
    expect(t.topicsFor(["payments.#"])).toEqual(["payments", "shop.events"])
    expect(t.topicsFor(["*.created"])).toEqual(["orders", "payments", "shop.events"])
    expect(t.topicsFor(["#"])).toEqual(["orders", "payments", "legacy-audit", "shop.events"])
    expect(t.topicsFor(["users.*"])).toEqual(["shop.events"])
  })

  it("a record without a routing key is routed by the topic's key where its pattern is one key", () => {
    const t = topicsOf({ "orders.#": "orders", "audit.log": "legacy-audit" })
    expect([t.fallbackKey("legacy-audit"), t.fallbackKey("orders"), t.fallbackKey("shop.events")]).toEqual(["audit.log", "orders", "shop.events"])
  })

  it("a mapping's value may give the partitions the adapter creates a missing topic with", () => {
    const t = topicsOf({ "orders.#": { topic: "orders", partitions: 12 }, "payments.*": "payments" })
    expect([t.topicOf("orders.placed"), t.partitionsOf("orders"), t.partitionsOf("payments"), t.partitionsOf("shop.events")]).toEqual(["orders", 12, undefined, undefined])
  })

  it.each([
    [{ "orders.#": { topic: "orders", partitions: 0 } }, "positive integer"],
    [{ "orders.#": { topic: "orders", partitions: 3 }, "payments.#": "orders" }, "given 3 and default partitions"],
    [{ "orders.#": "orders", "*.placed": "placed" }, 'both match "orders.placed"'],
    [{ "orders.#": "shop.events" }, "adapter's own topics"],
    [{ "orders.#": "shop.g.billing.retry" }, "adapter's own topics"],
    [{ "orders.#": "bad topic" }, "Kafka topic name"],
    [{ "orders.#": 7 }, "Kafka topic name"],
    [{ "orders..x": "orders" }, "empty word"],
    [["orders"], "an array"],
  ])("rejects %j as InvalidOptions (%s)", (eventTopics, reason) => {
    expect(() => topicsOf(eventTopics)).toThrow(expect.objectContaining({ _tag: "InvalidOptions", reason: expect.stringContaining(reason) }))
  })
})
