/**
 * A broker killed (-9) and down for longer than the client's retries (the
 * idempotent producer's initProducerId gives up after ~1 s, a send after
 * 15 s), then restarted, on a private broker of the fault suite's launcher.
 * Retry moves that fail meanwhile are made again once the broker is back,
 * and a subscription closed while its moves cannot be made gives them up
 * and closes once the broker is back (the records go to the group's next
 * member): a move that failed once used to leave its record unsettled for
 * good, and close() waited on it forever.
 */
import { randomUUID } from "node:crypto"
import { connect, type Bus, type Message } from "@omnibus/core"
import { launchKafka } from "@omnibus/conformance/brokers"
import { eventually } from "@omnibus/conformance"
import { afterAll, beforeAll, expect, it } from "vitest"
import "../src/index.ts"

type Launcher = Awaited<ReturnType<typeof launchKafka>>
let broker: Launcher | undefined
let bus: Bus | undefined
let openGate = () => {}

beforeAll(async () => {
  broker = await launchKafka()
  await broker.start()
}, 180_000)

afterAll(async () => {
  openGate()
  await bus?.close().catch(() => undefined)
  await broker?.stop()
}, 60_000)

/** Settles within `ms` or fails the test (the bug was a promise that never settled). */
const within = async <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

it("retry moves that fail while the broker is down are made after its restart; close() settles either way", async () => {
  const b = broker!
  bus = await connect(b.url, { connectTimeoutMs: 20_000, leaseMs: 2_000 })
  const run = randomUUID().slice(0, 8)
  const key = `outage.${run}.e`
  const gate = new Promise<void>((resolve) => { openGate = resolve })
  const blocked = { kept: 0, closed: 0 }
  const handled = { kept: new Set<string>(), closed: new Set<string>() }
  // attempt 1 waits for the gate and fails (a retry move while the broker is down), attempt 2 succeeds
  const handler = (group: "kept" | "closed") => async (m: Message<unknown>): Promise<void> => {
    if (m.attempt === 1) {
      blocked[group]++
      await gate
      throw new Error("fails once")
    }
    handled[group].add(m.id)
  }
  const retry = { attempts: 3, backoff: { initial: 10, factor: 1, max: 10, jitter: false } }
  const kept = await bus.subscribe(key, handler("kept"), { group: `${run}-kept`, concurrency: 4, retry })
  const closing = await bus.subscribe(key, handler("closed"), { group: `${run}-closed`, concurrency: 4, retry })
  const ids = [randomUUID(), randomUUID(), randomUUID()]
  for (const id of ids) await bus.publish(key, { id }, { id, key: id })
  await eventually(() => blocked.kept === ids.length && blocked.closed === ids.length, { timeoutMs: 60_000, what: () => `every handler blocked (${JSON.stringify(blocked)})` })

  await b.kill9()
  openGate()
  // publishes while the broker is down: each settles, as a typed rejection
  const whileDown = [0, 1].map((n) => bus!.publish(key, { n }).then(() => "ok", (e: unknown) => (e instanceof Error ? e.name : String(e))))
  // closed while its moves cannot be made: gives them up (its last commit waits for the broker)
  const closed = closing.close()
  const outcomes = await within("publishes while the broker is down", 60_000, Promise.all(whileDown))
  expect(outcomes.every((o) => o === "PublishFailed" || o === "BusClosed" || o === "ok"), JSON.stringify(outcomes)).toBe(true)

  await b.restart()
  await within("close() begun while the broker was down", 60_000, closed)
  await within("a publish after the restart", 60_000, bus.publish(key, { after: true }, { id: randomUUID() }))
  // the kept group's moves went through after all: attempt 2 handled every message
  await eventually(() => ids.every((id) => handled.kept.has(id)), { timeoutMs: 90_000, what: () => `kept group handled ${handled.kept.size}/${ids.length} at attempt 2` })
  await within("close() after the restart", 30_000, kept.close())
  // the closed group's records were left uncommitted: its next member gets them again
  const again = await bus.subscribe(key, handler("closed"), { group: `${run}-closed`, concurrency: 4, retry })
  await eventually(() => ids.every((id) => handled.closed.has(id)), { timeoutMs: 90_000, what: () => `closed group handled ${handled.closed.size}/${ids.length} after resubscribing` })
  await within("close() of the new member", 30_000, again.close())
}, 300_000)
