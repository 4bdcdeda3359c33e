/**
 * Reconnect: the broker force-closes the connection (320 CONNECTION_FORCED,
 * what a broker restart or an operator looks like to a client) in the middle
 * of a publish stream. Needs rabbitmqctl for the broker under test (the
 * machine's RabbitMQ).
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { afterEach, expect, it } from "vitest"
import type { Delivery } from "@omnibus/core"
import type { RabbitTransport } from "../src/index.ts"
import { cleanupGroups, envelope, k, open, spec, unique, until } from "./helpers.ts"

const run = promisify(execFile)
const opened: Array<RabbitTransport> = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close().catch(() => {})))
  await cleanupGroups()
})

/** Closes, on the broker side, every connection whose connection_name is `name`; returns how many. */
const forceClose = async (name: string): Promise<number> => {
  const { stdout } = await run("rabbitmqctl", ["list_connections", "-q", "--no-table-headers", "pid", "client_properties"])
  const pids = stdout.split("\n").filter((l) => l.includes(`{"connection_name","${name}"}`)).map((l) => l.split("\t")[0]!)
  for (const pid of pids) await run("rabbitmqctl", ["close_connection", pid, "omnibus reconnect test"])
  return pids.length
}

it("reconnects, re-declares, resumes consumers and republishes unconfirmed messages", async () => {
  const name = unique("reconnect")
  const t = await open({ connectionName: name })
  opened.push(t)
  const group = unique("rc")
  const seen = new Set<string>()
  await t.consume(spec(group, [k("rc.*")], { prefetch: 50 }), (d: Delivery) => {
    seen.add(d.envelope.id)
    void d.ack()
  })
  const sent: Array<string> = []
  const outcomes: Array<Promise<ReadonlyArray<{ ok: boolean }>>> = []
  const publishBatch = () => {
    const batch = Array.from({ length: 100 }, (_, i) => envelope(k("rc.x"), String(i)))
    sent.push(...batch.map((e) => e.id))
    outcomes.push(t.publish(batch))
  }
  for (let i = 0; i < 5; i++) publishBatch()
  expect(await forceClose(name)).toBe(1)
  for (let i = 0; i < 5; i++) publishBatch() // written while reconnecting
  const results = (await Promise.all(outcomes)).flat()
  expect(results.every((o) => o.ok)).toBe(true)
  await until(() => sent.every((id) => seen.has(id)), "every message after the reconnect", 20_000)
  expect((await t.health()).ready).toBe(true)
  // still consuming on the new connection
  const after = envelope(k("rc.y"), "after")
  await t.publish([after])
  await until(() => seen.has(after.id), "a message published after the reconnect")
})
