/** URL and option parsing: own query parameters, typed errors, redaction. */
import { expect, it } from "vitest"
import { InvalidOptions, InvalidUrl } from "@omnibus/core"
import { parseSettings } from "../src/options.ts"

it("reads its own query parameters, strips them from the amqplib URL and never exposes credentials", () => {
  const s = parseSettings("amqp://user:p4ss@broker:5673/vh?exchange=ev2&queueType=quorum&heartbeat=10", {})
  expect(s.exchange).toBe("ev2")
  expect(s.queueType).toBe("quorum")
  expect(s.amqpUrl).toBe("amqp://user:p4ss@broker:5673/vh?heartbeat=10")
  expect(s.safeUrl).not.toContain("p4ss")
  expect(s.safeUrl).not.toContain("user")
  expect(s.maxPayloadBytes).toBe(8 * 1024 * 1024)
  // options win over the query
  expect(parseSettings("amqps://h?exchange=a", { exchange: "b" }).exchange).toBe("b")
  expect(parseSettings("amqp://h", {}).rpcExchange).toBe("omnibus.rpc")
})

it("rejects bad input with typed errors", () => {
  expect(() => parseSettings("amqp://h", { queueType: "stream" })).toThrow(InvalidOptions)
  expect(() => parseSettings("amqp://h", { connectTimeoutMs: -1 })).toThrow(InvalidOptions)
  expect(() => parseSettings("amqp://h", { maxPayloadBytes: 512 * 1024 * 1024 })).toThrow(InvalidOptions)
  expect(() => parseSettings("nats://h", {})).toThrow(InvalidUrl)
  const e = (() => { try { parseSettings("amqp://u:s3cret@[bad", {}) } catch (err) { return err } })()
  expect(e).toBeInstanceOf(InvalidUrl)
  expect(String((e as Error).message)).not.toContain("s3cret")
})

it("foreignIds: fresh by default, content by query or option, anything else refused", () => {
  expect(parseSettings("amqp://h", {}).foreignIds).toBe("fresh")
  expect(parseSettings("amqp://h?foreignIds=content", {}).foreignIds).toBe("content")
  expect(parseSettings("amqp://h?foreignIds=content", {}).amqpUrl).toBe("amqp://h")
  expect(parseSettings("amqp://h?foreignIds=content", { foreignIds: "fresh" }).foreignIds).toBe("fresh")
  expect(() => parseSettings("amqp://h?foreignIds=hash", {})).toThrow(InvalidOptions)
})

it("cloudEvents: off by default, on by query or option with the exchange as the default source", () => {
  expect(parseSettings("amqp://h", {}).cloudEvents).toBeUndefined()
  expect(parseSettings("amqp://h?cloudEvents=true", {})).toMatchObject({ cloudEvents: { source: "omnibus://rabbitmq/events" }, amqpUrl: "amqp://h" })
  expect(parseSettings("amqp://h?cloudEvents=true&cloudEventsSource=/hr", { exchange: "ev2" }).cloudEvents).toEqual({ source: "/hr" })
  expect(parseSettings("amqp://h", { cloudEvents: true, exchange: "ev2" }).cloudEvents).toEqual({ source: "omnibus://rabbitmq/ev2" })
  expect(() => parseSettings("amqp://h?cloudEvents=yes", {})).toThrow(InvalidOptions)
})
