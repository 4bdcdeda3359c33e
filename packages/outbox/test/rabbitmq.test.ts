/**
 * The relay and the inbox over a real broker (RabbitMQ) on PostgreSQL: the
 * relay's bus is closed mid-run (publishes fail with BusClosed) and replaced,
 * and RabbitMQ, which keeps no publish-side dedup, delivers a republished
 * id twice so the inbox must turn the copy into a duplicate.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type Bus, type HandlerEvent, type Message } from "@omnibus/core"
import { createInbox, createOutbox, startRelay, type SqlClient } from "../src/index.ts"
import { DIALECTS, eventually, type TestDatabase } from "./databases.ts"

const URL_ = process.env.OMNIBUS_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const postgres = DIALECTS.find((d) => d.name === "postgres")!

describe("outbox and inbox over RabbitMQ on PostgreSQL", () => {
  let tdb: TestDatabase
  let consumer: Bus
  const run = `outbox${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  beforeAll(async () => {
    tdb = await postgres.make()
    consumer = await connect(URL_)
  })
  afterAll(async () => {
    await consumer.close()
    await tdb.close()
  })

  it("delivers through the broker, backs off while the relay's bus is closed, and delivers on the new one", { timeout: 60_000 }, async () => {
    const received: Array<Message<unknown>> = []
    // A broadcast subscription: its queue goes away with the consumer.
    await consumer.subscribe(`${run}.#`, (m) => void received.push(m))
    let current = await connect(URL_)
    const errors: Array<unknown> = []
    const relay = startRelay({
      db: tdb.open(),
      bus: { publishBatch: (entries) => current.publishBatch(entries) },
      tablePrefix: tdb.prefix,
      backoff: { initialMs: 20, maxMs: 200 },
      // Only a NOTIFY can wake it in time: the poll would come after the test's deadline.
      pollIntervalMs: 60_000,
      onError: (e) => void errors.push(e),
    })
    try {
      const app = tdb.open()
      const outbox = createOutbox({ dialect: "postgres", tablePrefix: tdb.prefix })
      await eventually("the relay is listening and idle", async () => (await relay.stats()).pending === 0)
      const first = await app.transaction((tx) => outbox.publish(tx, `${run}.created`, { n: 1 }, { key: "a" }))
      await eventually("the first message arrives", () => received.some((m) => m.id === first.id), 8_000)

      await current.close()
      const writing = Date.now()
      const second = await app.transaction((tx) => outbox.publish(tx, `${run}.created`, { n: 2 }, { key: "a" }))
      const written = Date.now()
      await eventually("publishes fail while the bus is closed", () => errors.some((e) => (e as { _tag?: string })._tag === "BusClosed"))
      expect((await relay.stats()).pending).toBe(1)
      const reconnecting = Date.now()
      current = await connect(URL_)
      await eventually("the second message arrives on the new bus", () => received.some((m) => m.id === second.id))
      await eventually("the outbox is drained", async () => (await relay.stats()).pending === 0)
      expect(received.map((m) => m.payload)).toEqual([{ n: 1 }, { n: 2 }])
      // Published after the reconnect, stamped with the time its row was written.
      const timestamp = received.find((m) => m.id === second.id)!.timestamp
      expect(timestamp).toBeGreaterThanOrEqual(writing)
      expect(timestamp).toBeLessThanOrEqual(written)
      expect(written).toBeLessThan(reconnecting)
    } finally {
      await relay.stop()
      await current.close()
    }
  })

  it("acks a message delivered again with a handled id as a duplicate", { timeout: 30_000 }, async () => {
    const db = tdb.open()
    const inbox = createInbox({ db, tablePrefix: tdb.prefix })
    const effects = await tdb.effectsTable()
    const events: Array<HandlerEvent> = []
    let calls = 0
    await consumer.subscribe(
      `${run}.paid`,
      inbox.handler(async (msg, tx: SqlClient) => {
        calls++
        await tx.query(`INSERT INTO ${effects} (id) VALUES ($1)`, [msg.id])
      }),
      { idempotency: inbox.store, observe: (e) => void events.push(e) },
    )
    const id = `${run}-payment`
    await consumer.publish(`${run}.paid`, { amount: 3 }, { id })
    await eventually("handled", () => events.some((e) => e.type === "handled"))
    await consumer.publish(`${run}.paid`, { amount: 3 }, { id })
    await eventually("the copy is a duplicate", () => events.some((e) => e.type === "duplicate"))
    expect(calls).toBe(1)
    expect((await db.query(`SELECT id FROM ${effects}`)).rows).toEqual([{ id }])
  })
})
