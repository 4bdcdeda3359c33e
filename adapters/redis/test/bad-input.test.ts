/**
 * Bad input against the machine's Redis: raw entries XADDed with plain ioredis
 * to the group streams (`<prefix>{<namespace>}:g:<group>`, payload first, then
 * header fields: the documented interop layout), as a foreign producer would.
 */
import { randomUUID } from "node:crypto"
import { connect } from "@omnibus/core"
import { describeBadInput } from "@omnibus/conformance/bad-input"
import { Redis } from "ioredis"
import { describe, expect, it } from "vitest"
import "../src/index.ts"
import { Keys } from "../src/keys.ts"
import { dropNamespace, eventually, REDIS_URL, testNamespace } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

const namespace = testNamespace()
const keys = new Keys({ prefix: "omnibus:", namespace })
const raw = rawProducer(REDIS_URL, namespace)

describeBadInput("redis", {
  connect: (options) => connect(REDIS_URL, { namespace, ...options }),
  writeRaw: raw.writeRaw,
  cleanup: async () => {
    await raw.close()
    await dropNamespace(namespace)
  },
})

describe("redis: a foreign entry (no Omnibus metadata) that fails once", () => {
  it("keeps the id the consumer saw across its retry", async () => {
    const bus = await connect(REDIS_URL, { namespace })
    const group = `bi-retry-${randomUUID().slice(0, 8)}`
    try {
      const seen: Array<{ readonly id: string; readonly attempt: number }> = []
      await bus.subscribe(`${group}.x`, (m) => {
        seen.push({ id: m.id, attempt: m.attempt })
        if (m.attempt === 1) throw new Error("once")
      }, { group, retry: { attempts: 3, backoff: { initial: 20, jitter: false } } })
      const own = new Redis(REDIS_URL)
      try {
        await own.xadd(keys.group(group), "*", "payload", "{}", "content-type", "application/json")
      } finally {
        own.disconnect()
      }
      await eventually(async () => seen.length === 2, 10_000, "2 attempts")
      expect(seen.map((s) => s.attempt)).toEqual([1, 2])
      expect(seen[1]!.id, "the retried copy's id").toBe(seen[0]!.id)
    } finally {
      await bus.close()
    }
  })
})

describe("redis: a foreign entry whose x-omnibus-headers field is not a JSON object of strings", () => {
  it("is handled with the fallbacks of an entry without metadata, its payload and flat fields intact", async () => {
    const bus = await connect(REDIS_URL, { namespace })
    const group = `bi-compact-${randomUUID().slice(0, 8)}`
    try {
      const seen: Array<{ readonly id: string; readonly routingKey: string; readonly payload: unknown; readonly tenant: string | undefined }> = []
      await bus.subscribe(`${group}.x`, (m) => {
        seen.push({ id: m.id, routingKey: m.routingKey, payload: m.payload, tenant: m.headers["tenant"] })
      }, { group })
      const own = new Redis(REDIS_URL)
      let entryIds: Array<string>
      try {
        entryIds = [
          await own.xadd(keys.group(group), "*", "payload", '{"n":1}', "x-omnibus-headers", "not json", "content-type", "application/json", "tenant", "t1"),
          await own.xadd(keys.group(group), "*", "payload", '{"n":2}', "x-omnibus-headers", '{"x-omnibus-id":7}', "content-type", "application/json"),
        ].map(String)
      } finally {
        own.disconnect()
      }
      await eventually(async () => seen.length === 2, 10_000, "2 deliveries")
      const byN = [...seen].sort((a, b) => (a.payload as { n: number }).n - (b.payload as { n: number }).n)
      expect(byN.map((s) => s.id)).toEqual(entryIds)
      expect(byN[0]).toMatchObject({ payload: { n: 1 }, tenant: "t1" })
      expect(byN[1]).toMatchObject({ payload: { n: 2 } })
    } finally {
      await bus.close()
    }
  })
})
