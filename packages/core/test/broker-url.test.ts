import { describe, expect, it } from "vitest"
import { InvalidOptions, InvalidUrl } from "../src/errors.ts"
import { hostListOption, hostPort, parseClusterUrl } from "../src/broker-url.ts"

describe("cluster URLs", () => {
  it("parse with the first host, list every host, keep credentials, path and query once", () => {
    const { url, hosts } = parseClusterUrl("amqp://u:s3cret@h1, h2:5673,[::1]:5674/vh?heartbeat=5", ["amqp"])
    expect([url.username, url.password, url.hostname, url.pathname, url.searchParams.get("heartbeat")]).toEqual(["u", "s3cret", "h1", "/vh", "5"])
    expect(hosts).toEqual([{ hostname: "h1", port: "" }, { hostname: "h2", port: "5673" }, { hostname: "[::1]", port: "5674" }])
    expect(hosts.map((h) => hostPort(h, 5672))).toEqual(["h1:5672", "h2:5673", "[::1]:5674"])
  })

  it("one host is a plain URL", () => {
    expect(parseClusterUrl("nats://h:4223", ["nats"]).hosts).toEqual([{ hostname: "h", port: "4223" }])
  })

  it("refuse an empty host, a host with more than host:port, a wrong scheme, without showing the password", () => {
    for (const url of ["amqp://u:s3cret@h1,,h2", "amqp://u:s3cret@h1,h2:x", "amqp://u:s3cret@h1,u2@h2", "nats://u:s3cret@h1,h2"]) {
      let error: unknown
      try {
        parseClusterUrl(url, ["amqp"])
      } catch (e) {
        error = e
      }
      expect(error, url).toBeInstanceOf(InvalidUrl)
      expect(String((error as InvalidUrl).message), url).not.toContain("s3cret")
    }
  })
})

describe("host-list options", () => {
  it("take an array or a comma-separated string, with or without the scheme", () => {
    expect(hostListOption("hosts", ["h2:1", "amqp://h3"], "amqp")).toEqual([{ hostname: "h2", port: "1" }, { hostname: "h3", port: "" }])
    expect(hostListOption("hosts", "h2:1, h3", "amqp")).toEqual([{ hostname: "h2", port: "1" }, { hostname: "h3", port: "" }])
    expect(hostListOption("hosts", undefined, "amqp")).toEqual([])
  })

  it("refuse anything else with InvalidOptions naming the option", () => {
    for (const value of [[""], [42], "h1,", 7, [], ["h/x"]]) {
      expect(() => hostListOption("servers", value, "nats"), JSON.stringify(value)).toThrow(InvalidOptions)
    }
  })
})
