/**
 * RPC one at a time, many samples, contenders interleaved: the tool for a
 * before → after of an RPC path. The bench's 300 serial requests per
 * repetition move with the machine (on this VM a busy process is woken
 * sooner, so a round trip's time depends on what else runs); here each round
 * gives every contender a fresh session, the bench's warm-up shortened (2,000
 * requests at 64 in flight, then as many one at a time), then N requests one at a time, and the rounds
 * alternate the contenders. Prints each round's p50 / p90 and this process's
 * CPU per serial request (requester and server both run here), the median of
 * the rounds' p50s, and the ratio to the second contender.
 * Run: bash scripts/run.sh node bench/src/rpc-serial.ts <broker> [contenders] [rounds]
 *      e.g. node bench/src/rpc-serial.ts redis omnibus,ioredis 4   (N=3000 by default)
 *      WARM (2000) and IN_FLIGHT (64) set the warm-up; SERIAL_WARM=0 skips its one-at-a-time half.
 */
import { randomUUID } from "node:crypto"
import { load } from "./clients/index.ts"
import { locate } from "./env.ts"
import { median, percentile } from "./stats.ts"
import type { Broker } from "./types.ts"

const broker = (process.argv[2] ?? "redis") as Broker
const names = (process.argv[3] ?? "omnibus").split(",")
const rounds = Number(process.argv[4] ?? 4)
const N = Number(process.env.N ?? 3_000)
const WARM = Number(process.env.WARM ?? 2_000)
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 64)
const SERIAL_WARM = process.env.SERIAL_WARM !== "0"

const target = await locate(broker)
if (!target.available) throw new Error(`rpc-serial: ${broker} unavailable: ${target.reason}`)
const contenders = await Promise.all(names.map((n) => load(broker, target.url, n)))
const p50s = new Map<string, Array<number>>(names.map((n) => [n, []]))

const measure = async (name: string): Promise<void> => {
  const c = contenders[names.indexOf(name)]!
  const ns = `rpcs${randomUUID().slice(0, 8)}`
  const s = await c.open(ns)
  if (!s.serve || !s.request) throw new Error(`rpc-serial: ${name} has no RPC`)
  const server = await s.serve()
  let seq = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => { while (seq < WARM) await s.request!(seq++) }))
  if (SERIAL_WARM) for (let i = 0; i < WARM; i++) await s.request(seq++) // the serial path's own warm-up, as the bench's
  const lat = new Float64Array(N)
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const t = performance.now()
    await s.request(seq++)
    lat[i] = performance.now() - t
  }
  const cpu = process.cpuUsage(cpu0)
  const cpuUs = (cpu.user + cpu.system) / N
  await server.close()
  await s.close()
  await c.cleanup(ns, [])
  lat.sort()
  const p50 = percentile(lat, 50)
  p50s.get(name)!.push(p50)
  console.log(`${broker} ${name.padEnd(14)} p50 ${p50.toFixed(3)} ms  p90 ${percentile(lat, 90).toFixed(3)} ms  CPU ${cpuUs.toFixed(0)} µs/request`)
}

for (let r = 0; r < rounds; r++) {
  // alternate the order, so neither contender always runs on a machine the other just warmed
  for (const name of r % 2 === 0 ? names : [...names].reverse()) await measure(name)
}
const base = names[1] === undefined ? undefined : median(p50s.get(names[1])!)
for (const n of names) {
  const m = median(p50s.get(n)!)
  console.log(`median p50 ${n}: ${m.toFixed(3)} ms${base === undefined ? "" : ` (${(m / base).toFixed(2)} × ${names[1]})`}`)
}
process.exit(0)
