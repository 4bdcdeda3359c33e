/**
 * Two relays draining one outbox at once while writers commit: every message
 * is published once (no double send in the normal case) and each key's
 * messages arrive in the order they were written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, type Bus, type Message } from "@omnibus/core"
import { createOutbox, startRelay } from "../src/index.ts"
import { DIALECTS, eventually, type TestDatabase } from "./databases.ts"

const KEYS = 6
const PER_KEY = 25

describe.each(DIALECTS)("two relays on $name", ({ make }) => {
  let tdb: TestDatabase
  let bus: Bus
  beforeAll(async () => {
    tdb = await make()
    bus = await connect(`memory://${tdb.prefix}`)
  })
  afterAll(async () => {
    await bus.close()
    await tdb.close()
  })

  it("keep per-key order and publish each message once", { timeout: 60_000 }, async () => {
    const received: Array<Message<{ readonly key: string; readonly n: number }>> = []
    await bus.subscribe<{ readonly key: string; readonly n: number }>("accounts.#", (m) => void received.push(m), { group: "ledger" })
    const sentBy = [0, 0]
    const counting = (i: 0 | 1): Pick<Bus, "publishBatch"> => ({
      publishBatch: (entries) => {
        sentBy[i]! += entries.length
        return bus.publishBatch(entries)
      },
    })
    // Small batches, so the relays interleave on every key.
    const relays = [0, 1].map((i) => startRelay({ db: tdb.open(), bus: counting(i as 0 | 1), tablePrefix: tdb.prefix, batchSize: 4, pollIntervalMs: 20 }))
    try {
      const app = tdb.open()
      const outbox = createOutbox({ dialect: tdb.dialect, tablePrefix: tdb.prefix })
      const keys = Array.from({ length: KEYS }, (_, k) => `account-${k}`)
      await Promise.all(
        keys.map(async (key) => {
          for (let n = 0; n < PER_KEY; n++) {
            await app.transaction((tx) => outbox.publish(tx, "accounts.changed", { key, n }, { key }))
            for (const r of relays) r.notify()
          }
        }),
      )
      await eventually("every message is received", () => received.length >= KEYS * PER_KEY, 30_000)
      await eventually("the outbox is drained", async () => (await relays[0]!.stats()).pending === 0)
    } finally {
      await Promise.all(relays.map((r) => r.stop()))
    }
    for (let k = 0; k < KEYS; k++) {
      const ns = received.filter((m) => m.payload.key === `account-${k}`).map((m) => m.payload.n)
      expect(ns).toEqual(Array.from({ length: PER_KEY }, (_, n) => n))
    }
    expect(new Set(received.map((m) => m.id)).size).toBe(KEYS * PER_KEY)
    // With row locks both relays share the work; on SQLite the lease holder does it all.
    if (tdb.dialect !== "sqlite") expect(Math.min(...sentBy)).toBeGreaterThan(0)
    expect(sentBy[0]! + sentBy[1]!).toBe(KEYS * PER_KEY)
    const totals = await Promise.all(relays.map((r) => r.stats()))
    expect(totals[0]!.sentTotal + totals[1]!.sentTotal).toBe(KEYS * PER_KEY)
  })
})
