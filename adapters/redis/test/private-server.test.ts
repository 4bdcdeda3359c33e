/**
 * Redis-specific checks that need their own redis-server (an ACL user scoped
 * to the adapter's keys), on the shared launcher of the fault suite. Restart,
 * TLS, wrong credentials and secrets in errors are covered for every broker by
 * the fault suite (test/faults.test.ts).
 */
import { AuthenticationFailed } from "@omnibus/core"
import { launchRedis } from "@omnibus/conformance/brokers"
import type { Launcher } from "@omnibus/conformance/brokers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RedisTransport } from "../src/transport.ts"
import { envelope, Inbox, unique } from "./helpers.ts"

let server: Launcher

beforeAll(async () => {
  // "app" may only touch keys under omnibus: (and run the scripts and client commands it needs)
  server = await launchRedis({
    auth: { user: "admin", password: "admin-pw" },
    extraAcl: ["user app on >app-pw ~omnibus:* &* +@all -@dangerous +client|id +client|unblock +info"],
  })
  await server.start()
}, 30_000)

afterAll(async () => {
  await server.stop()
})

describe("redis adapter on a private server", () => {
  it("an ACL user limited to omnibus:* keys can publish and consume; a wrong password is AuthenticationFailed", async () => {
    const t = await RedisTransport.create(server.urlWith({ credentials: { user: "app", password: "app-pw" } }), { connectTimeoutMs: 5_000 })
    const group = unique("acl")
    const inbox = new Inbox()
    const c = await t.consume({ group, patterns: ["acl.#"], prefetch: 5, ephemeral: true }, inbox.push)
    await t.publish([envelope("acl.x", "hello")])
    await inbox.count(1)
    await inbox.deliveries[0]!.ack()
    await c.stop()
    await c.close()
    await t.close()
    const started = Date.now()
    const denied = await RedisTransport.create(server.urlWith({ credentials: { user: "app", password: "wrong-pw" } }), { connectTimeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(denied).toBeInstanceOf(AuthenticationFailed)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(String((denied as Error).message)).not.toContain("wrong-pw")
  })
})
