/**
 * What differs between nats-server versions, on whichever server OMNIBUS_NATS_URL
 * names (`npm test` runs this file on the machine's 2.9 and on 2.10,
 * scripts/matrix/brokers.sh): from 2.10 a consumer takes several filter subjects,
 * so a group on some event types is no longer sent the others.
 */
import { connect as natsConnect } from "@nats-io/transport-node"
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream"
import { afterAll, describe, expect, it } from "vitest"
import { parseSettings } from "../src/config.ts"
import { encodeGroup, nativeFilters, planFilter } from "../src/topology.ts"
import { envelope, eventually, NATS_URL, open, unique } from "./helpers.ts"

const raw = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") })
const jsm = await jetstreamManager(raw)
afterAll(async () => { await raw.close() })
const [major, minor] = (raw.info?.version ?? "0.0").split(".").map(Number) as [number, number]
const multiFilter = major > 2 || (major === 2 && minor >= 10)

describe("nativeFilters (nats-server 2.10+ filter_subjects)", () => {
  it("maps patterns to exact subjects, drops covered ones, gives up on partial overlaps and inner #", () => {
    expect(nativeFilters("ev", ["a.b", "c.*"])).toEqual(["ev.a.b", "ev.c.*"])
    // a trailing "#" gets its parent's ">", never an exact subject beside a wildcard on it (topology.ts subjectOf)
    expect(nativeFilters("ev", ["a.b.#"])).toEqual(["ev.a.>"])
    expect(nativeFilters("ev", ["x.y", "a.b.#"])).toEqual(["ev.x.y", "ev.a.>"])
    expect(nativeFilters("ev", ["a.#"])).toEqual(["ev.>"])
    expect(nativeFilters("ev", ["a.*", "a.b", "a.#"])).toEqual(["ev.>"])
    expect(nativeFilters("ev", ["#", "a.b"])).toEqual(["ev.>"])
    expect(nativeFilters("ev", ["a.*.c", "a.b.*"])).toBeUndefined()
    expect(nativeFilters("ev", ["a.#.c", "b"])).toBeUndefined()
  })
})

describe(`nats-server ${raw.info?.version}: a group on 2 of 20 event types`, () => {
  it(multiFilter ? "is sent only its 2 types (filter_subjects)" : "is sent all 20 and acks the 18 it does not want (one filter on 2.9)", async () => {
    const t = await open({ leaseMs: 1_000 })
    const run = unique("ft")
    const group = unique("two-of-twenty")
    const types = Array.from({ length: 20 }, (_, i) => `${run}.ev.t${String(i).padStart(2, "0")}`)
    const wanted = [types[3]!, types[17]!]
    let handled = 0
    const c = await t.consume({ group, patterns: wanted, prefetch: 50, ephemeral: false }, (d) => {
      handled++
      void d.ack()
    })
    try {
      const perType = 25
      await t.publish(types.flatMap((key) => Array.from({ length: perType }, (_, i) => envelope(key, `${key}-${i}`))))
      const stream = parseSettings(NATS_URL, {}).stream
      const settled = async (): Promise<boolean> => {
        const info = await jsm.consumers.info(stream, encodeGroup(group))
        return info.num_pending === 0 && info.num_ack_pending === 0 && handled === wanted.length * perType
      }
      await eventually(settled, 20_000, "the group to take every message")
      const info = await jsm.consumers.info(stream, encodeGroup(group))
      const sent = info.delivered.consumer_seq
      console.log(`nats-server ${raw.info?.version}: group on 2 of 20 types handled ${handled}, server sent it ${sent} of ${types.length * perType} (filter ${JSON.stringify(info.config.filter_subjects ?? info.config.filter_subject)})`)
      expect(sent).toBe(multiFilter ? wanted.length * perType : types.length * perType)
    } finally {
      await c.stop()
      await c.close()
      await t.deleteGroup(group)
      await t.close()
    }
  })
})

// Only where filter_subjects exist (2.10+; `npm test` runs this file there too): on 2.9 there is no upgrade to make.
if (multiFilter) describe("a group made on nats-server 2.9, served by 2.10+", () => {
  it("gets its one broad filter replaced by exact filter_subjects", async () => {
    const settings = parseSettings(NATS_URL, {})
    const t = await open({ leaseMs: 1_000 })
    const group = unique("upgraded")
    const run = unique("up")
    const patterns = [`${run}.a.*`, `${run}.b.c`]
    // what the adapter declared on 2.9: planFilter's single subject
    await jsm.consumers.add(settings.stream, { durable_name: encodeGroup(group), filter_subject: planFilter(settings.stream, patterns).filter, ack_policy: AckPolicy.Explicit })
    const c = await t.consume({ group, patterns, prefetch: 10, ephemeral: false }, (d) => void d.ack())
    try {
      const info = await jsm.consumers.info(settings.stream, encodeGroup(group))
      expect(info.config.filter_subject ?? "").toBe("")
      expect(info.config.filter_subjects).toEqual([`${settings.stream}.${run}.a.*`, `${settings.stream}.${run}.b.c`])
    } finally {
      await c.stop()
      await c.close()
      await t.deleteGroup(group)
      await t.close()
    }
  })
})
