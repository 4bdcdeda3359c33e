/** URL and option parsing for clusters: server lists, replicas (docs/clusters.md). */
import { expect, it } from "vitest"
import { InvalidOptions, InvalidUrl } from "@omnibus/core"
import { parseSettings } from "../src/config.ts"

it("a cluster URL names every server; credentials and query come from it once", () => {
  const s = parseSettings("nats://u:p@h1:4222,h2:4223,h3?replicas=3", {})
  expect(s.servers).toEqual(["h1:4222", "h2:4223", "h3:4222"])
  expect(s.connection.servers).toEqual(s.servers)
  expect(s.connection.user).toBe("u")
  expect(s.replicas).toBe(3)
  expect(s.connection.noRandomize).toBe(false)
  expect(s.safeUrl).not.toContain(":p@")
})

it("servers option, replicas defaults: 3 with several servers, undefined (detected at connect) with one", () => {
  expect(parseSettings("nats://h1", { servers: ["h2:4223", "nats://h3:4224"] }).servers).toEqual(["h1:4222", "h2:4223", "h3:4224"])
  expect(parseSettings("nats://h1", { servers: "h2:4223,h3" }).replicas).toBe(3)
  expect(parseSettings("nats://h1:4222", {}).replicas).toBeUndefined()
  expect(parseSettings("nats://h1,h2", { replicas: 1 }).replicas).toBe(1)
  expect(parseSettings("nats://h1,h2", { randomizeServers: false }).connection.noRandomize).toBe(true)
})

it("bad server lists and replicas are typed errors", () => {
  expect(() => parseSettings("nats://h1,,h2", {})).toThrow(InvalidUrl)
  expect(() => parseSettings("nats://h1", { servers: [42] })).toThrow(InvalidOptions)
  expect(() => parseSettings("nats://h1", { replicas: 7 })).toThrow(InvalidOptions)
  expect(() => parseSettings("nats://h1?replicas=two", {})).toThrow(InvalidOptions)
})
