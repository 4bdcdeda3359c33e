/**
 * Connection faults against a private nats-server (its own port and store):
 * bad credentials, unreachable server, server restart mid-stream.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { NatsTransport } from "../src/index.ts"
import { Inbox, envelope, eventually } from "./helpers.ts"

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on("error", reject)
  })

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const sock = createConnection({ port, host: "127.0.0.1" })
    sock.once("connect", () => { sock.destroy(); resolve(true) })
    sock.once("error", () => resolve(false))
  })

class PrivateServer {
  readonly port: number
  readonly dir: string
  readonly args: Array<string>
  proc: ChildProcess | undefined
  constructor(port: number, args: Array<string>) {
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), "omnibus-nats-"))
    this.args = args
  }
  async start(): Promise<void> {
    this.proc = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir, ...this.args], { stdio: "ignore" })
    await eventually(() => listening(this.port), 10_000, `nats-server on ${this.port}`)
  }
  async stop(): Promise<void> {
    const p = this.proc
    if (!p || p.exitCode !== null) return
    const exited = new Promise((r) => p.once("exit", r))
    p.kill("SIGTERM")
    await exited
  }
  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const servers: Array<PrivateServer> = []
afterAll(async () => {
  for (const s of servers) await s.dispose()
})

const serverWith = async (args: Array<string> = []): Promise<PrivateServer> => {
  const s = new PrivateServer(await freePort(), args)
  servers.push(s)
  await s.start()
  return s
}

describe("connection faults", () => {
  it("wrong credentials: AuthenticationFailed at once, without the secret in the message", async () => {
    const s = await serverWith(["--auth", "right-token-123"])
    const started = Date.now()
    const err = await NatsTransport.create(`nats://wrong-secret-456@127.0.0.1:${s.port}`, { connectTimeoutMs: 10_000 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ _tag: "AuthenticationFailed" })
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(String((err as Error).message)).not.toContain("wrong-secret-456")
    const ok = await NatsTransport.create(`nats://right-token-123@127.0.0.1:${s.port}`, { connectTimeoutMs: 5_000 })
    expect((await ok.health()).ready).toBe(true)
    await ok.close()
  })

  it("unreachable server: ConnectionFailed after connectTimeoutMs", async () => {
    const port = await freePort()
    const started = Date.now()
    await expect(NatsTransport.create(`nats://user:pw-secret@127.0.0.1:${port}`, { connectTimeoutMs: 1_000 })).rejects.toMatchObject({ _tag: "ConnectionFailed" })
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(800)
    expect(took).toBeLessThan(5_000)
  })

  it("server restart: consumers resume and publishes go through after reconnect", async () => {
    const s = await serverWith()
    const url = `nats://127.0.0.1:${s.port}`
    const t = await NatsTransport.create(url, { connectTimeoutMs: 5_000, leaseMs: 2_000, pullExpiresMs: 1_000 })
    try {
      const inbox = new Inbox()
      const c = await t.consume({ group: "restart", patterns: ["r.*"], prefetch: 10, ephemeral: false, orderedByKey: false }, (d) => {
        inbox.push(d)
        void d.ack().catch(() => undefined)
      })
      const before = Array.from({ length: 20 }, (_, i) => envelope(`r.${i}`, `b${i}`))
      expect((await t.publish(before)).every((o) => o.ok)).toBe(true)
      await inbox.count(20)
      await s.stop()
      await eventually(async () => !(await t.health()).ready, 10_000, "health to report the outage")
      // Published while the server is down: confirmed once it is back (same msg ids, no duplicates).
      const during = Array.from({ length: 20 }, (_, i) => envelope(`r.${i}`, `d${i}`))
      const pending = t.publish(during)
      await s.start()
      expect((await pending).every((o) => o.ok)).toBe(true)
      const after = Array.from({ length: 20 }, (_, i) => envelope(`r.${i}`, `a${i}`))
      expect((await t.publish(after)).every((o) => o.ok)).toBe(true)
      const ids = new Set([...before, ...during, ...after].map((e) => e.id))
      await inbox.until(() => [...ids].every((id) => inbox.deliveries.some((d) => d.envelope.id === id)), 20_000, "all 60 messages")
      expect((await t.health()).ready).toBe(true)
      await c.stop()
      await c.close()
    } finally {
      await t.close()
    }
  }, 60_000)
})
