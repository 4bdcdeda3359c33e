/** The outbox and one relay on each database, over the in-memory broker. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type BatchEntry, type Bus, type Message } from "@omnibus/core"
import { createOutbox, startRelay } from "../src/index.ts"
import { DIALECTS, eventually, type TestDatabase } from "./databases.ts"

class Rollback extends Error {}

describe.each(DIALECTS)("outbox on $name", ({ make }) => {
  let tdb: TestDatabase
  let bus: Bus
  const received: Array<Message<unknown>> = []

  beforeAll(async () => {
    tdb = await make()
    bus = await connect(`memory://${tdb.prefix}`)
    await bus.subscribe("orders.#", (m) => void received.push(m), { group: "shipping" })
  })
  afterAll(async () => {
    await bus.close()
    await tdb.close()
  })

  const outbox = () => createOutbox({ dialect: tdb.dialect, tablePrefix: tdb.prefix })
  const receivedIds = (id: string) => received.filter((m) => m.id === id).length

  it("publishes a committed transaction's message once, with the envelope bus.publish would make, and a rolled-back one never", async () => {
    const app = tdb.open()
    const box = outbox()
    const rolledBack = await app
      .transaction(async (tx) => {
        const r = await box.publish(tx, "orders.created", { n: 1 }, { key: "order-1" })
        throw new Rollback(r.id)
      })
      .catch((e: unknown) => (e instanceof Rollback ? e.message : Promise.reject(e)))
    const { id } = await app.transaction((tx) => box.publish(tx, "orders.created", { n: 2 }, { key: "order-1", headers: { tenant: "acme" }, correlationId: "c-1" }))

    const relay = startRelay({ db: tdb.open(), bus, tablePrefix: tdb.prefix })
    await eventually("the committed message is received", () => receivedIds(id) === 1)
    await eventually("the outbox is drained", async () => (await relay.stats()).pending === 0)
    const stats = await relay.stats()
    await relay.stop()

    expect(receivedIds(rolledBack)).toBe(0)
    expect(receivedIds(id)).toBe(1)
    expect(stats).toEqual({ pending: 0, oldestAgeMs: undefined, sentTotal: 1 })
    expect(received.find((m) => m.id === id)).toMatchObject({
      routingKey: "orders.created",
      key: "order-1",
      payload: { n: 2 },
      contentType: "application/json",
      headers: { tenant: "acme" },
      correlationId: "c-1",
    })
  })

  it("delivers a message relayed late with the time its row was written, or the timestamp given to outbox.publish", async () => {
    const app = tdb.open()
    const box = outbox()
    const { id: late } = await app.transaction((tx) => box.publish(tx, "orders.late", { n: 7 }))
    const happened = new Date("2024-02-29T12:00:00.000Z")
    const { id: stamped } = await app.transaction((tx) => box.publish(tx, "orders.stamped", { n: 8 }, { timestamp: happened }))
    // The row waited a minute before any relay ran (the relay was down): its creation time is a minute old.
    const p = (n: number) => (tdb.dialect === "postgres" ? `$${n}` : "?")
    await app.query(`UPDATE ${box.tables.outbox} SET created_at = created_at - 60000 WHERE id = ${p(1)}`, [late])
    const written = Number((await app.query(`SELECT created_at FROM ${box.tables.outbox} WHERE id = ${p(1)}`, [late])).rows[0]!.created_at)

    const relay = startRelay({ db: tdb.open(), bus, tablePrefix: tdb.prefix })
    try {
      await eventually("both messages are received", () => receivedIds(late) === 1 && receivedIds(stamped) === 1)
    } finally {
      await relay.stop()
    }
    expect(received.find((m) => m.id === late)!.timestamp).toBe(written)
    expect(written).toBeLessThan(Date.now() - 59_000)
    expect(received.find((m) => m.id === stamped)!.timestamp).toBe(happened.getTime())
  })

  it("rejects in the transaction what bus.publish would reject", async () => {
    const app = tdb.open()
    await expect(app.transaction((tx) => outbox().publish(tx, "bad key with spaces", {}))).rejects.toMatchObject({ _tag: "InvalidRoutingKey" })
    await expect(app.transaction((tx) => outbox().publish(tx, "orders.x", {}, { headers: { "x-omnibus-id": "1" } }))).rejects.toMatchObject({ _tag: "InvalidOptions" })
  })

  it("still publishes after a crash between commit and cleanup: a new relay sends it again (at least once)", async () => {
    const app = tdb.open()
    // The process died after the commit, before any relay ran: the row waits in the table.
    const { id } = await app.transaction((tx) => outbox().publish(tx, "orders.crashed", { n: 3 }, { key: "order-3" }))
    expect((await startRelayStats(tdb)).pending).toBe(1)

    // The next relay publishes, then dies before deleting the row (its cleanup never happens).
    let published = 0
    const dying: Pick<Bus, "publishBatch"> = {
      publishBatch: async (entries: ReadonlyArray<BatchEntry>) => {
        await bus.publishBatch(entries)
        published++
        throw new Error("process killed after the broker confirmed")
      },
    }
    const a = startRelay({ db: tdb.open(), bus: dying, tablePrefix: tdb.prefix, backoff: { initialMs: 10_000 }, onError: () => {} })
    await eventually("the dying relay published", () => published === 1)
    await a.stop()
    expect((await startRelayStats(tdb)).pending).toBe(1)

    // The new relay publishes it again, with the same id (the memory broker drops the copy
    // as a duplicate id, as JetStream would; other brokers deliver it and consumers dedupe).
    const republished: Array<string> = []
    const counting: Pick<Bus, "publishBatch"> = {
      publishBatch: (entries) => {
        for (const e of entries) republished.push(e.options?.id ?? "")
        return bus.publishBatch(entries)
      },
    }
    const b = startRelay({ db: tdb.open(), bus: counting, tablePrefix: tdb.prefix })
    try {
      await eventually("the outbox is drained by the new relay", async () => (await b.stats()).pending === 0)
    } finally {
      await b.stop()
    }
    expect(republished).toEqual([id])
    expect(receivedIds(id)).toBe(1)
  })

  it("hands the rows of a relay that died mid-publish to another relay", { timeout: 30_000 }, async () => {
    const app = tdb.open()
    const { id } = await app.transaction((tx) => outbox().publish(tx, "orders.orphaned", { n: 6 }, { key: "order-6" }))
    // Relay A publishes, then hangs (the broker confirm never reaches it) and its process dies:
    // its database connection is killed (SQLite: its lease runs out).
    let freeA: (() => void) | undefined
    let aPublished = 0
    const hanging: Pick<Bus, "publishBatch"> = {
      publishBatch: async (entries) => {
        aPublished += entries.length
        await bus.publishBatch(entries)
        return new Promise((_, reject) => (freeA = () => reject(new Error("relay A was killed"))))
      },
    }
    const killable = await tdb.openKillable()
    const a = startRelay({ db: killable.db, bus: hanging, tablePrefix: tdb.prefix, leaseMs: 300, onError: () => {} })
    await eventually("relay A published and hangs", () => aPublished === 1 && freeA !== undefined)
    await killable.kill()

    const republished: Array<string> = []
    const b = startRelay({
      db: tdb.open(),
      bus: {
        publishBatch: (entries) => {
          for (const e of entries) republished.push(e.options?.id ?? "")
          return bus.publishBatch(entries)
        },
      },
      tablePrefix: tdb.prefix,
      leaseMs: 300,
      pollIntervalMs: 50,
    })
    try {
      await eventually("relay B took the row over and drained the outbox", async () => republished.includes(id) && (await b.stats()).pending === 0)
    } finally {
      freeA?.()
      await a.stop()
      await b.stop()
    }
    expect(republished).toEqual([id])
    expect(receivedIds(id)).toBe(1)
  })

  it("backs off while the broker is down, then delivers when it is back", async () => {
    const attempts: Array<number> = []
    const errors: Array<unknown> = []
    let down = true
    const flaky: Pick<Bus, "publishBatch"> = {
      publishBatch: (entries) => {
        attempts.push(Date.now())
        return down ? Promise.reject(new Error("broker unreachable")) : bus.publishBatch(entries)
      },
    }
    const relay = startRelay({ db: tdb.open(), bus: flaky, tablePrefix: tdb.prefix, backoff: { initialMs: 20, maxMs: 160 }, onError: (e) => void errors.push(e) })
    const { id } = await tdb.open().transaction((tx) => outbox().publish(tx, "orders.delayed", { n: 4 }, { key: "order-4" }))
    relay.notify()
    await eventually("five failed attempts", () => attempts.length >= 5)
    // Waits double from 20 ms up to 160 ms (timers may fire late, never early).
    const gaps = attempts.slice(1, 5).map((t, i) => t - attempts[i]!)
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(Math.min(20 * 2 ** i, 160) - 2))
    expect((await relay.stats()).pending).toBe(1)
    expect(errors.length).toBeGreaterThanOrEqual(5)

    down = false
    await eventually("the message is delivered once the broker is back", () => receivedIds(id) === 1)
    await eventually("the outbox is drained", async () => (await relay.stats()).pending === 0)
    await relay.stop()
  })

  it("keeps sent rows marked for the retention period when asked to", async () => {
    const app = tdb.open()
    const { id } = await app.transaction((tx) => outbox().publish(tx, "orders.kept", { n: 5 }))
    const relay = startRelay({ db: tdb.open(), bus, tablePrefix: tdb.prefix, cleanup: { retainMs: 60_000 } })
    await eventually("the message is received", () => receivedIds(id) === 1)
    await eventually("the row is marked sent", async () => (await relay.stats()).pending === 0)
    await relay.stop()
    const t = outbox().tables.outbox
    const kept = await app.query(`SELECT sent_at FROM ${t} WHERE id = ${tdb.dialect === "postgres" ? "$1" : "?"}`, [id])
    expect(kept.rows).toHaveLength(1)
    expect(Number(kept.rows[0]!.sent_at)).toBeGreaterThan(0)
  })
})

/** Stats without draining: a relay over a bus that is never called (stopped at once). */
const startRelayStats = async (tdb: TestDatabase) => {
  const never: Pick<Bus, "publishBatch"> = { publishBatch: () => Promise.reject(new Error("not used")) }
  const relay = startRelay({ db: tdb.open(), bus: never, tablePrefix: tdb.prefix, onError: () => {} })
  await relay.stop()
  return relay.stats()
}
