/**
 * Tests that need their own redis-server (restart, ACL users, TLS), so the
 * shared server on 6379 is never disturbed. The server runs with an
 * append-only file fsynced on every write, so a restart keeps every
 * acknowledged write.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AuthenticationFailed } from "@omnibus/core"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RedisTransport } from "../src/transport.ts"
import { envelope, eventually, Inbox, text, unique } from "./helpers.ts"

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on("error", reject)
  })

const dir = mkdtempSync(join(tmpdir(), "omnibus-redis-"))
let port = 0
let tlsPort = 0
let server: ChildProcess | undefined

const start = async (): Promise<void> => {
  server = spawn("redis-server", [
    "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    "--tls-port", String(tlsPort), "--tls-cert-file", join(dir, "cert.pem"), "--tls-key-file", join(dir, "key.pem"), "--tls-auth-clients", "no",
    "--aclfile", join(dir, "users.acl"), "--logfile", join(dir, "server.log"),
  ], { stdio: "ignore" })
  await eventually(async () => {
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, username: "admin", password: "admin-pw" })
    probe.on("error", () => {})
    try {
      await probe.connect()
      return (await probe.ping()) === "PONG"
    } catch {
      return false
    } finally {
      probe.disconnect()
    }
  }, 10_000, "private redis-server to start")
}

const stop = async (): Promise<void> => {
  const s = server
  if (!s || s.exitCode !== null) return
  const exited = new Promise((r) => s.once("exit", r))
  s.kill("SIGKILL")
  await exited
}

beforeAll(async () => {
  port = await freePort()
  tlsPort = await freePort()
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" })
  // admin for the probe; "app" may only touch keys under omnibus: (and run the scripts it needs)
  // (Redis 7.0 replays MULTI/EXEC from the AOF as the default user: turning it off drops them on restart)
  const acl = ["user default on >admin-pw ~* &* +@all", "user admin on >admin-pw ~* &* +@all", "user app on >app-pw ~omnibus:* &* +@all -@dangerous +client|id +client|unblock +info"]
  execFileSync("sh", ["-c", `printf '%s\\n' ${acl.map((l) => `'${l}'`).join(" ")} > ${join(dir, "users.acl")}`])
  await start()
}, 30_000)

afterAll(async () => {
  await stop()
  rmSync(dir, { recursive: true, force: true })
})

describe("redis adapter on a private server", () => {
  it("an ACL user limited to omnibus:* keys can publish and consume; a wrong password is AuthenticationFailed", async () => {
    const t = await RedisTransport.create(`redis://app:app-pw@127.0.0.1:${port}`, { connectTimeoutMs: 5_000 })
    const group = unique("acl")
    const inbox = new Inbox()
    const c = await t.consume({ group, patterns: ["acl.#"], prefetch: 5, ephemeral: true, orderedByKey: false }, inbox.push)
    await t.publish([envelope("acl.x", "hello")])
    await inbox.count(1)
    await inbox.deliveries[0]!.ack()
    await c.stop()
    await c.close()
    await t.close()
    const started = Date.now()
    const denied = await RedisTransport.create(`redis://app:wrong-pw@127.0.0.1:${port}`, { connectTimeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(denied).toBeInstanceOf(AuthenticationFailed)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(String((denied as Error).message)).not.toContain("wrong-pw")
  })

  it("connects over rediss:// with a private CA", async () => {
    const ca = readFileSync(join(dir, "cert.pem"))
    const t = await RedisTransport.create(`rediss://app:app-pw@localhost:${tlsPort}`, { connectTimeoutMs: 5_000, tls: { ca } })
    const group = unique("tls")
    const inbox = new Inbox()
    const c = await t.consume({ group, patterns: ["tls.x"], prefetch: 5, ephemeral: true, orderedByKey: false }, inbox.push)
    await t.publish([envelope("tls.x", "secret")])
    await inbox.count(1)
    expect(text(inbox.deliveries[0]!.envelope)).toBe("secret")
    await inbox.deliveries[0]!.ack()
    await c.stop()
    await c.close()
    expect(await t.health()).toEqual({ ready: true })
    await t.close()
  })

  it("resumes after a server restart: consumers continue, unacked entries come back, publishes during the outage land", async () => {
    const publisher = await RedisTransport.create(`redis://app:app-pw@127.0.0.1:${port}`, { connectTimeoutMs: 5_000, leaseMs: 1_000 })
    const consumer = await RedisTransport.create(`redis://app:app-pw@127.0.0.1:${port}`, { connectTimeoutMs: 5_000, leaseMs: 1_000 })
    const group = unique("restart")
    const seen = new Set<string>()
    const inbox = new Inbox()
    const c = await consumer.consume({ group, patterns: ["rs.#"], prefetch: 20, ephemeral: false, orderedByKey: false }, (d) => {
      seen.add(text(d.envelope))
      inbox.push(d)
      void d.ack().catch(() => {})
    })
    const before = Array.from({ length: 200 }, (_, i) => envelope("rs.a", `before-${i}`))
    expect((await publisher.publish(before)).every((o) => o.ok)).toBe(true)
    await stop()
    expect((await publisher.health()).ready).toBe(false)
    // published while the server is down: waits for the reconnect, then confirms
    const during = publisher.publish(Array.from({ length: 200 }, (_, i) => envelope("rs.b", `during-${i}`)))
    await start()
    expect((await during).every((o) => o.ok)).toBe(true)
    const after = Array.from({ length: 200 }, (_, i) => envelope("rs.c", `after-${i}`))
    expect((await publisher.publish(after)).every((o) => o.ok)).toBe(true)
    await inbox.until(() => seen.size >= 600, 20_000, "600 distinct messages")
    expect(seen.size).toBe(600)
    await eventually(async () => (await consumer.health()).ready)
    await c.stop()
    await c.close()
    await publisher.close()
    await consumer.close()
  }, 60_000)
})
