/**
 * Redis Cluster URLs and the waitReplicas option (docs/clusters.md): how a URL selects the
 * cluster client, what it refuses, and WAIT on a server without replicas (the machine's
 * Redis): never confirmed, PublishFailed at the publish deadline with the reason.
 * The cluster itself is tested by clusters.test.ts (npm run test:clusters).
 */
import { ConnectionFailed, InvalidOptions, InvalidUrl, PublishFailed } from "@omnibus/core"
import { afterAll, describe, expect, it } from "vitest"
import { parseRedisUrl } from "../src/connection.ts"
import { RedisTransport } from "../src/transport.ts"
import { dropNamespace, envelope, open, testNamespace } from "./helpers.ts"

const ns = testNamespace()
afterAll(() => dropNamespace(ns))

describe("redis cluster URLs", () => {
  it("several hosts name a cluster's seed nodes; one host stays one server unless cluster=true", () => {
    const s = parseRedisUrl("redis://u:p@10.0.0.1:7001,10.0.0.2,[::1]:7003", 5_000)
    expect(s.cluster).toEqual([{ host: "10.0.0.1", port: 7001 }, { host: "10.0.0.2", port: 6379 }, { host: "::1", port: 7003 }])
    expect(s.options.username).toBe("u")
    expect(s.options.password).toBe("p")
    expect(parseRedisUrl("redis://127.0.0.1:6379/2", 5_000).cluster).toBeUndefined()
    expect(parseRedisUrl("redis://127.0.0.1:7001?cluster=true", 5_000).cluster).toEqual([{ host: "127.0.0.1", port: 7001 }])
    expect(parseRedisUrl("redis://127.0.0.1:7001", 5_000, undefined, true).cluster).toEqual([{ host: "127.0.0.1", port: 7001 }])
    // the option wins over the URL parameter
    expect(parseRedisUrl("redis://127.0.0.1:7001?cluster=true", 5_000, undefined, false).cluster).toBeUndefined()
  })

  it("refuses what a cluster cannot be, without credentials in the error", () => {
    const refused = (url: string, cluster?: unknown): unknown => {
      try {
        parseRedisUrl(url, 5_000, undefined, cluster)
        return undefined
      } catch (e) {
        return e
      }
    }
    expect(refused("redis://h1:7001", "yes")).toBeInstanceOf(InvalidOptions)
    for (const [url, cluster, reason] of [
      ["redis://u:s3cret@h1:7001,h2:7002?cluster=false", undefined, /cluster=false/],
      ["redis://u:s3cret@h1:7001,h2:7002/3", undefined, /database 0 only/],
      ["redis://u:s3cret@h1:7001/1?cluster=true", undefined, /database 0 only/],
      ["redis://u:s3cret@h1:7001,h2:x", undefined, /not host\[:port\]/],
      ["redis://u:s3cret@h1:7001,u2@h2:7002", undefined, /not host\[:port\]/],
      ["redis://u:s3cret@h1:7001?cluster=yes", undefined, /cluster must be true or false/],
    ] as const) {
      const e = refused(url, cluster)
      expect(e, url).toBeInstanceOf(InvalidUrl)
      expect((e as Error).message, url).toMatch(reason)
      expect((e as Error).message, url).not.toContain("s3cret")
    }
  })

  it("no cluster node answering: ConnectionFailed at the connect deadline, credentials hidden", async () => {
    const started = Date.now()
    const e = await RedisTransport.create("redis://u:s3cret@127.0.0.1:1,127.0.0.1:2", { connectTimeoutMs: 1_000 }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ConnectionFailed)
    expect((e as Error).message).not.toContain("s3cret")
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

describe("redis waitReplicas", () => {
  it("refuses a count that is not a whole number, from the options or the URL", async () => {
    for (const [url, options] of [
      ["redis://127.0.0.1:1", { waitReplicas: -1 }],
      ["redis://127.0.0.1:1", { waitReplicas: 1.5 }],
      ["redis://127.0.0.1:1?waitReplicas=two", {}],
      ["redis://127.0.0.1:1?waitTimeoutMs=0", {}],
    ] as const) {
      const e = await RedisTransport.create(url, { connectTimeoutMs: 500, ...options }).catch((x: unknown) => x)
      expect(e, `${url} ${JSON.stringify(options)}`).toBeInstanceOf(InvalidOptions)
    }
  })

  it("a server without replicas never confirms: PublishFailed at the publish deadline, saying why", async () => {
    const t = await open(ns, { waitReplicas: 1, waitTimeoutMs: 200, publishTimeoutMs: 1_500 })
    try {
      await t.declareGroup({ group: "g", patterns: ["w.#"], ephemeral: false })
      const started = Date.now()
      const [outcome] = await t.publish([envelope("w.one", "x")])
      expect(outcome?.ok).toBe(false)
      const error = outcome?.ok === false ? outcome.error : undefined
      expect(error).toBeInstanceOf(PublishFailed)
      expect(String(error)).toMatch(/acknowledged by 0 of the 1 replicas/)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_400)
    } finally {
      await t.close()
    }
  })

  it("waitReplicas=0 in the URL is the default: confirmed by the primary alone", async () => {
    const t = await RedisTransport.create(`${process.env.OMNIBUS_REDIS_URL ?? "redis://127.0.0.1:6379"}?waitReplicas=0`, { namespace: ns, connectTimeoutMs: 5_000 })
    try {
      const [outcome] = await t.publish([envelope("w.two", "x")])
      expect(outcome).toEqual({ ok: true })
    } finally {
      await t.close()
    }
  })
})
