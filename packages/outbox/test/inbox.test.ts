/** The inbox on each database: the "handled" mark commits with the handler's writes, or not at all. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type Bus, type HandlerEvent } from "@omnibus/core"
import { crash } from "@omnibus/core/testing"
import { createInbox, type Database, type SqlClient } from "../src/index.ts"
import { DIALECTS, eventually, type TestDatabase } from "./databases.ts"

describe.each(DIALECTS)("inbox on $name", ({ make }) => {
  let tdb: TestDatabase
  let bus: Bus
  let effects: string
  let db: Database
  beforeAll(async () => {
    tdb = await make()
    bus = await connect(`memory://${tdb.prefix}`)
    effects = await tdb.effectsTable()
    db = tdb.open()
  })
  afterAll(async () => {
    await bus.close()
    await tdb.close()
  })

  const insertEffect = (tx: SqlClient, id: string) => tx.query(`INSERT INTO ${effects} (id) VALUES (${tdb.dialect === "postgres" ? "$1" : "?"})`, [id])
  const effectCount = async (id: string) =>
    (await db.query(`SELECT id FROM ${effects} WHERE id = ${tdb.dialect === "postgres" ? "$1" : "?"}`, [id])).rows.length

  it("rolls back the mark with a failed handler's writes (retried), then runs it again", async () => {
    const inbox = createInbox({ db, tablePrefix: tdb.prefix })
    const events: Array<HandlerEvent> = []
    let calls = 0
    await bus.subscribe(
      "invoices.#",
      inbox.handler(async (msg, tx) => {
        calls++
        await insertEffect(tx, msg.id)
        // The first attempt fails after its write: the write and the mark must both roll back.
        if (calls === 1) throw new Error("fails after writing")
      }),
      { group: "billing", idempotency: inbox.store, retry: { attempts: 5, backoff: { initial: 10, max: 10, jitter: false } }, observe: (e) => void events.push(e) },
    )
    const { id } = await bus.publish("invoices.issued", { total: 10 })
    await eventually("handled", () => events.some((e) => e.type === "handled"))
    expect(events.map((e) => e.type)).toEqual(["retry", "handled"])
    expect(calls).toBe(2)
    expect(await effectCount(id)).toBe(1)
    expect(await inbox.handled("billing", id)).toBe(true)

  })

  it("acks a handled message that is redelivered (its ack was lost) as a duplicate, without running the handler", async () => {
    const inbox = createInbox({ db, tablePrefix: tdb.prefix })
    const first = await connect(`memory://${tdb.prefix}`)
    let calls = 0
    const work = inbox.handler(async (msg, tx) => {
      calls++
      await insertEffect(tx, msg.id)
    })
    // The handler's transaction commits, then the consumer dies before acking.
    await first.subscribe("refunds.#", async (msg) => {
      await work(msg)
      await crash(first)
    }, { group: "refunds", idempotency: inbox.store })
    const { id } = await bus.publish("refunds.issued", { total: 5 })
    await eventually("handled by the first consumer", () => calls === 1)

    const events: Array<HandlerEvent> = []
    await bus.subscribe("refunds.#", work, { group: "refunds", idempotency: inbox.store, observe: (e) => void events.push(e) })
    await eventually("the redelivery is acked as a duplicate", () => events.some((e) => e.type === "duplicate" && e.id === id))
    expect(calls).toBe(1)
    expect(await effectCount(id)).toBe(1)
  })

  it("skips a message whose mark is committed even without the store (handler wrapper alone)", async () => {
    const inbox = createInbox({ db, tablePrefix: tdb.prefix })
    let calls = 0
    const handler = inbox.handler(async (msg, tx) => {
      calls++
      await insertEffect(tx, msg.id)
    })
    const msg = { id: `direct-${tdb.prefix}`, group: "reports", routingKey: "r.x", key: undefined, payload: {}, body: new Uint8Array(), contentType: "application/json", headers: {}, correlationId: undefined, timestamp: Date.now(), attempt: 1, redeliveries: 0 }
    await handler(msg)
    await handler({ ...msg, attempt: 2, redeliveries: 1 })
    expect(calls).toBe(1)
    expect(await effectCount(msg.id)).toBe(1)
    expect(await inbox.store.claim(`reports:${msg.id}`, 1000)).toBe("done")
  })

  it("runs one of two copies handled at the same time: the second waits on the first's mark, then skips", async () => {
    const inbox = createInbox({ db, tablePrefix: tdb.prefix })
    let calls = 0
    let open: (() => void) | undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const handler = inbox.handler(async (msg, tx) => {
      calls++
      await insertEffect(tx, msg.id)
      await gate // the first copy holds its transaction open while the second arrives
    })
    const msg = { id: `concurrent-${tdb.prefix}`, group: "exports", routingKey: "e.x", key: undefined, payload: {}, body: new Uint8Array(), contentType: "application/json", headers: {}, correlationId: undefined, timestamp: Date.now(), attempt: 1, redeliveries: 0 }
    const first = handler(msg)
    await eventually("the first copy is running", () => calls === 1)
    const second = handler({ ...msg, redeliveries: 1 })
    // The second copy's insert of the mark waits on the first's row lock (SQLite: on the queue).
    const waiting =
      tdb.dialect === "postgres"
        ? "SELECT COUNT(*) AS n FROM pg_locks WHERE NOT granted"
        : tdb.dialect === "mysql"
          ? `SELECT COUNT(*) AS n FROM information_schema.processlist WHERE command = 'Query' AND info LIKE 'INSERT IGNORE INTO ${inbox.tables.inbox}%'`
          : undefined
    const probe = tdb.open()
    try {
      if (waiting) await eventually("the second copy waits on the first's lock", async () => Number((await probe.query(waiting)).rows[0]!.n) > 0)
    } finally {
      open!()
    }
    await Promise.all([first, second])
    expect(calls).toBe(1)
    expect(await effectCount(msg.id)).toBe(1)
  })

  it("forgets marks after their TTL and purges them", async () => {
    const inbox = createInbox({ db, tablePrefix: tdb.prefix, ttlMs: 1 })
    await inbox.store.complete("audit:old", 1)
    await eventually("the mark expires", async () => (await inbox.store.claim("audit:old", 1000)) === "acquired")
    expect(await inbox.purge()).toBeGreaterThanOrEqual(1)
  })
})
