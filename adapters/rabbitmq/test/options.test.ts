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

it("a cluster: every host of the URL or the hosts option, with the first one's credentials, vhost and parameters; quorum defaults", () => {
  const s = parseSettings("amqp://u:s3cret@h1,h2:5673, h3/vh?heartbeat=5&queuePrefix=p.", { hosts: ["h4:5674"] })
  expect(s.amqpUrls).toEqual(["amqp://u:s3cret@h1/vh?heartbeat=5", "amqp://u:s3cret@h2:5673/vh?heartbeat=5", "amqp://u:s3cret@h3/vh?heartbeat=5", "amqp://u:s3cret@h4:5674/vh?heartbeat=5"])
  expect(s.amqpUrl).toBe(s.amqpUrls[0])
  expect(s.cluster).toBe(true)
  expect(s.queueType).toBe("quorum")
  expect(s.quorumGroupSize).toBe(3)
  expect(s.safeUrl).not.toContain("s3cret")
  expect(s.safeUrl).toContain("h2:5673")
  // an explicit choice wins; one host keeps the single-node defaults
  expect(parseSettings("amqp://h1,h2", { queueType: "classic", quorumGroupSize: 5 })).toMatchObject({ queueType: "classic", quorumGroupSize: 5 })
  expect(parseSettings("amqp://h1?quorumGroupSize=2", {})).toMatchObject({ queueType: "classic", quorumGroupSize: 2, cluster: false, amqpUrls: ["amqp://h1"] })
  expect(parseSettings("amqp://h1", {})).toMatchObject({ quorumGroupSize: undefined, cluster: false })
  expect(() => parseSettings("amqp://h1,h2", { quorumGroupSize: 0 })).toThrow(InvalidOptions)
  expect(() => parseSettings("amqp://h1", { hosts: [""] })).toThrow(InvalidOptions)
  expect(() => parseSettings("amqp://u:s3cret@h1,h2:x", {})).toThrow(InvalidUrl)
})
