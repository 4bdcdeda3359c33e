/**
 * Batched routing (publisher.ts): many messages per script call, one outcome
 * per entry. A failure of one entry (inside the script, or a call the server
 * refuses as a whole) must not fail the others; dedup works within and across
 * chunks; entries land in batch order.
 */
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { Keys } from "../src/keys.ts"
import { publishBatch, ROUTE_CHUNK_MESSAGES, type PublisherOptions } from "../src/publisher.ts"
import { withScripts } from "../src/scripts.ts"
import { dropNamespace, envelope, REDIS_URL, testNamespace } from "./helpers.ts"

const namespaces: Array<string> = []
const client = withScripts(new Redis(REDIS_URL, { protocol: 2 }))
afterAll(async () => {
  client.disconnect()
  for (const ns of namespaces) await dropNamespace(ns)
})

const setup = () => {
  const ns = testNamespace()
  namespaces.push(ns)
  return new Keys({ prefix: "omnibus:", namespace: ns })
}
const options = (dedupWindowMs: number): PublisherOptions => ({ dedupWindowMs, publishTimeoutMs: 10_000 })
const payloads = async (keys: Keys, group: string): Promise<Array<string>> =>
  (await client.xrange(keys.group(group), "-", "+")).map(([, fields]) => fields[1]!)

describe("redis batched routing", () => {
  it("routes a batch spanning several chunks, in order, with per-key fan-out", async () => {
    const keys = setup()
    await client.hset(keys.bindings, "a", "k.a k.both", "b", "k.b k.both", "all", "#")
    const n = ROUTE_CHUNK_MESSAGES * 3 + 7
    const rks = ["k.a", "k.b", "k.both", "k.none"]
    const batch = Array.from({ length: n }, (_, i) => envelope(rks[i % 4]!, `m${i}`))
    const outcomes = await publishBatch(client, keys, options(60_000), batch, () => true)
    expect(outcomes).toEqual(batch.map(() => ({ ok: true })))
    const sent = (rk: (k: string) => boolean) => batch.filter((e) => rk(e.routingKey)).map((e) => new TextDecoder().decode(e.payload))
    expect(await payloads(keys, "a")).toEqual(sent((k) => k === "k.a" || k === "k.both"))
    expect(await payloads(keys, "b")).toEqual(sent((k) => k === "k.b" || k === "k.both"))
    expect(await payloads(keys, "all")).toEqual(sent(() => true))
  })

  it("dedups a repeated id within a chunk, across chunks and across calls", async () => {
    const keys = setup()
    await client.hset(keys.bindings, "g", "d.#")
    const batch = Array.from({ length: ROUTE_CHUNK_MESSAGES * 2 }, (_, i) => envelope("d.x", `m${i}`))
    const twice = [batch[0]!, ...batch, batch[1]!, batch[ROUTE_CHUNK_MESSAGES + 5]!]
    expect(await publishBatch(client, keys, options(60_000), twice, () => true)).toEqual(twice.map(() => ({ ok: true })))
    expect(await publishBatch(client, keys, options(60_000), [batch[3]!], () => true)).toEqual([{ ok: true }])
    expect(await client.xlen(keys.group("g"))).toBe(batch.length)
    // without a window every copy lands
    const plain = setup()
    await client.hset(plain.bindings, "g", "d.#")
    await publishBatch(client, plain, options(0), [batch[0]!, batch[0]!], () => true)
    expect(await client.xlen(plain.group("g"))).toBe(2)
  })

  it("fails only the entries whose write the server refuses (one bad group key)", async () => {
    const keys = setup()
    await client.hset(keys.bindings, "good", "x.ok", "bad", "x.bad")
    await client.set(keys.group("bad"), "not a stream")
    const batch = Array.from({ length: 300 }, (_, i) => envelope(i % 50 === 7 ? "x.bad" : "x.ok", `m${i}`))
    const outcomes = await publishBatch(client, keys, options(60_000), batch, () => true)
    batch.forEach((e, i) => {
      const o = outcomes[i]!
      if (e.routingKey === "x.bad") {
        expect(o.ok).toBe(false)
        expect(!o.ok && o.error._tag).toBe("PublishFailed")
        expect(!o.ok && o.error.message).toMatch(/WRONGTYPE/)
      } else {
        expect(o).toEqual({ ok: true })
      }
    })
    expect(await client.xlen(keys.group("good"))).toBe(300 - 6)
  })

  it("fails only an entry with more fields than the script can pass on (flat layout)", async () => {
    const keys = setup()
    await client.hset(keys.bindings, "g", "h.#")
    const headers = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`h${i}`, "v"]))
    const batch = [envelope("h.x", "before"), envelope("h.x", "huge", { headers }), envelope("h.x", "after")]
    const outcomes = await publishBatch(client, keys, { ...options(60_000), layout: "flat" }, batch, () => true)
    expect(outcomes[0]).toEqual({ ok: true })
    expect(outcomes[1]!.ok).toBe(false)
    expect(outcomes[2]).toEqual({ ok: true })
    expect(await payloads(keys, "g")).toEqual(["before", "after"])
  })

  it("writes an entry with thousands of headers in the compact layout: they are one field", async () => {
    const keys = setup()
    await client.hset(keys.bindings, "g", "h.#")
    const headers = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`h${i}`, "v"]))
    const outcomes = await publishBatch(client, keys, options(60_000), [envelope("h.x", "huge", { headers })], () => true)
    expect(outcomes).toEqual([{ ok: true }])
    const entries = (await client.xrange(keys.group("g"), "-", "+")) as Array<[string, Array<string>]>
    const fields = entries[0]![1]
    expect(fields).toHaveLength(4)
    expect(Object.keys(JSON.parse(fields[3]!) as object).filter((k) => k.startsWith("h"))).toHaveLength(5_000)
  })

  it("a call refused as a whole falls back to one call per entry, each with its own outcome", async () => {
    const keys = setup()
    await client.set(keys.bindings, "not a hash")
    const batch = Array.from({ length: 10 }, (_, i) => envelope("r.x", `m${i}`))
    const outcomes = await publishBatch(client, keys, options(60_000), batch, () => true)
    expect(outcomes).toHaveLength(10)
    for (const o of outcomes) {
      expect(o.ok).toBe(false)
      expect(!o.ok && o.error._tag).toBe("PublishFailed")
      expect(!o.ok && o.error.message).toMatch(/WRONGTYPE/)
    }
  })
})
