/**
 * Publishes per second for a 1,000-message batch with 10 bindings through the
 * batched routing script (publishBatch), against plain pipelined XADDs and
 * against one script call per message (the layout before batching, and the
 * fallback after a refused call), in the same run; then the chunk size sweep.
 * Run: bash scripts/run.sh node adapters/redis/bench-routing.ts
 */
import { randomUUID } from "node:crypto"
import { newMessageId, type Envelope } from "@omnibus/core/adapter"
import { Redis } from "ioredis"
import { toFields } from "./src/fields.ts"
import { Keys } from "./src/keys.ts"
import { publishBatch, ROUTE_CHUNK_MESSAGES } from "./src/publisher.ts"
import { withScripts } from "./src/scripts.ts"

const url = process.env.OMNIBUS_REDIS_URL ?? "redis://127.0.0.1:6379"
const ns = `bench-${randomUUID().slice(0, 8)}`
const keys = new Keys({ prefix: "omnibus:", namespace: ns })
const client = withScripts(new Redis(url, { protocol: 2 }))
const BATCH = 1_000
const ROUNDS = 15

const payload = new Uint8Array(256).fill(7)
const batch = (rk: (i: number) => string): Array<Envelope> =>
  Array.from({ length: BATCH }, (_, i) => ({ id: newMessageId(), routingKey: rk(i), payload, contentType: "application/json", headers: { tenant: "t" }, timestamp: Date.now() }))

// 10 groups: g0..g9 bound to "orders.<region>.<n>.*", plus nothing else
for (let g = 0; g < 10; g++) await client.hset(keys.bindings, `g${g}`, `orders.r${g}.# audit.${g}.*`)
const oneMatch = (i: number) => `orders.r${i % 10}.x.created`
const allMatch = (i: number) => `everything.${i}`

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rate = async (label: string, run: () => Promise<unknown>, perBatch = BATCH) => {
  const times: Array<number> = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    await run()
    times.push(performance.now() - t0)
    // keep memory flat between rounds
    const streams = Array.from({ length: 10 }, (_, g) => keys.group(`g${g}`))
    await client.del(...streams, `${keys.base}plain`)
  }
  const ms = median(times)
  console.log(`${label.padEnd(58)} ${ms.toFixed(1).padStart(7)} ms/batch  ${Math.round((perBatch / ms) * 1000).toLocaleString("en-US").padStart(9)} msg/s`)
}

const route = (rk: (i: number) => string, dedupWindowMs: number, chunkMessages = ROUTE_CHUNK_MESSAGES) => async () => {
  const outcomes = await publishBatch(client, keys, { dedupWindowMs, publishTimeoutMs: 30_000, chunkMessages }, batch(rk), () => true)
  const failed = outcomes.find((o) => !o.ok)
  if (failed) throw new Error(`publish failed: ${String(failed.error)}`)
}

console.log(`redis ${(await client.info("server")).match(/redis_version:(\S+)/)?.[1]}, batch ${BATCH}, 256-byte payload, 10 bindings, median of ${ROUNDS}`)
await rate("plain pipelined XADD, 1 stream per message", async () => {
  const p = client.pipeline()
  for (const e of batch(oneMatch)) p.xadd(keys.group(`g${Number(e.routingKey.split(".")[1]!.slice(1))}`), "*", ...toFields(e, "compact"))
  await p.exec()
})
await rate("routing script, 1 message per call, 1 of 10 matches", route(oneMatch, 0, 1))
await rate(`routing script, ${ROUTE_CHUNK_MESSAGES} per call, 1 of 10 bindings matches, no dedup`, route(oneMatch, 0))
await rate(`routing script, ${ROUTE_CHUNK_MESSAGES} per call, 1 of 10 bindings matches, dedup`, route(oneMatch, 120_000))
await rate("plain pipelined XADD x10 (fan-out by hand)", async () => {
  const p = client.pipeline()
  for (const e of batch(oneMatch)) for (let g = 0; g < 10; g++) p.xadd(keys.group(`g${g}`), "*", ...toFields(e, "compact"))
  await p.exec()
})
for (let g = 0; g < 10; g++) await client.hset(keys.bindings, `g${g}`, `everything.#`)
await rate("routing script, 1 message per call, all 10 match (fan-out)", route(allMatch, 0, 1))
await rate(`routing script, ${ROUTE_CHUNK_MESSAGES} per call, all 10 bindings match (fan-out)`, route(allMatch, 0))

// chunk size sweep (1 of 10 bindings matches, dedup on)
for (let g = 0; g < 10; g++) await client.hset(keys.bindings, `g${g}`, `orders.r${g}.# audit.${g}.*`)
for (const size of [50, 100, 150, 200, 500, 1_000]) await rate(`chunk sweep: ${size} per call, 1 of 10 matches, dedup`, route(oneMatch, 120_000, size))

// how long one call holds the server in the worst case here: every message to all 10 groups, with dedup
const evalsha = async (): Promise<[number, number]> => {
  const m = (await client.info("commandstats")).match(/cmdstat_evalsha:calls=(\d+),usec=(\d+)/)
  return m ? [Number(m[1]), Number(m[2])] : [0, 0]
}
for (let g = 0; g < 10; g++) await client.hset(keys.bindings, `g${g}`, `everything.#`)
for (const size of [ROUTE_CHUNK_MESSAGES, 200, 1_000]) {
  const [calls0, usec0] = await evalsha()
  await route(allMatch, 120_000, size)()
  const [calls1, usec1] = await evalsha()
  console.log(`server time per call, ${size} per call, fan-out to 10 + dedup: ${((usec1 - usec0) / Math.max(1, calls1 - calls0) / 1000).toFixed(2)} ms`)
}

let cursor = "0"
do {
  const [next, found] = await client.scan(cursor, "MATCH", `omnibus:{${ns}}:*`, "COUNT", 1000)
  cursor = next
  if (found.length) await client.del(...found)
} while (cursor !== "0")
client.disconnect()
