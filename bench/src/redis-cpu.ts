/**
 * CPU per message, Node and Redis, for the bench's Redis contenders (the same
 * sessions as bench/src/clients): on a shared, loaded machine throughput
 * swings with the neighbours' load, CPU time per message much less. Node: this
 * process's user + system time (process.cpuUsage); Redis: the server's
 * main-thread user + system time (INFO cpu), so run it against a server
 * nobody else uses. Workloads as in bench/src/workloads.ts, smaller.
 * Run: OMNIBUS_REDIS_URL=redis://127.0.0.1:6397 bash scripts/run.sh node bench/src/redis-cpu.ts [contenders] [workloads]
 */
import { randomUUID } from "node:crypto"
import { Redis } from "ioredis"
import { load } from "./clients/index.ts"
import { publishWindowed } from "./workloads.ts"
import { body, type Body, type Session } from "./types.ts"

const url = process.env.OMNIBUS_REDIS_URL ?? "redis://127.0.0.1:6379"
const contenders = (process.argv[2] ?? "omnibus,ioredis,ioredis-dedup").split(",")
const workloads = (process.argv[3] ?? "publish,publish-batch,end-to-end,fan-out,rpc,rpc-serial").split(",")
const N = Number(process.env.N ?? 20_000)
const admin = new Redis(url)

const redisCpu = async (): Promise<number> => {
  const info = await admin.info("cpu")
  const f = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1])
  return (f("used_cpu_user_main_thread") + f("used_cpu_sys_main_thread")) * 1e6
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2))
}

/** Median latency of the last rpc-serial run, ms. */
let p50 = Number.NaN

/** Runs one workload; returns the number of messages (deliveries, requests) it did. */
const run = async (s: Session, w: string): Promise<number> => {
  const far = performance.now() + 60_000
  switch (w) {
    case "publish": {
      const r = await publishWindowed(s, N, 1_000, far)
      return r.confirmed
    }
    case "publish-batch": {
      for (let i = 0; i < N; i += 1_000) await s.publishBatch(Array.from({ length: 1_000 }, (_, k) => body(i + k)))
      return N
    }
    case "end-to-end":
    case "fan-out": {
      const groups = w === "fan-out" ? ["f1", "f2", "f3", "f4", "f5"] : ["g"]
      let got = 0
      const subs = await Promise.all(groups.map((g) => s.consume(g, (_b: Body) => void got++, { prefetch: 1_000, concurrency: 100 })))
      await publishWindowed(s, N, 1_000, far)
      await until(() => got >= N * groups.length, 60_000)
      await Promise.all(subs.map((x) => x.close()))
      return got
    }
    case "rpc": {
      const server = await s.serve!()
      let done = 0
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (done < N / 4) {
          done++
          await s.request!(done)
        }
      }))
      await server.close()
      return done
    }
    case "rpc-serial": {
      // one request at a time: the CPU of one round trip, and its latency
      const server = await s.serve!()
      const lat: Array<number> = []
      for (let i = 0; i < N / 10; i++) {
        const t = performance.now()
        await s.request!(i)
        lat.push(performance.now() - t)
      }
      await server.close()
      lat.sort((a, b) => a - b)
      p50 = lat[Math.floor(lat.length / 2)]!
      return lat.length
    }
  }
  throw new Error(`no workload ${w}`)
}

console.log(`${new Date().toISOString()} ${url}, ${N} messages per run, load ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`)
for (const w of workloads) {
  for (let rep = 0; rep < 3; rep++) {
    for (const name of contenders) {
      const c = await load("redis", url, name)
      const ns = `cpu${randomUUID().slice(0, 8)}`
      const s = await c.open(ns)
      if (w.startsWith("publish")) await s.declareGroup("g")
      // warm-up: connections, script cache, JIT
      await s.publish(body(-1))
      const r0 = await redisCpu()
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const n = await run(s, w)
      const ms = performance.now() - t0
      const c1 = process.cpuUsage(c0)
      const r1 = (await redisCpu()) - r0
      await s.close()
      await c.cleanup(ns, ["g", "f1", "f2", "f3", "f4", "f5"])
      const latency = w === "rpc-serial" ? `, p50 ${p50.toFixed(3)} ms` : ""
      console.log(`${w.padEnd(14)} ${name.padEnd(14)} node ${((c1.user + c1.system) / n).toFixed(1).padStart(6)} µs  redis ${(r1 / n).toFixed(1).padStart(5)} µs  per msg;  ${Math.round(n / (ms / 1000)).toString().padStart(6)} /s wall (n ${n})${latency}`)
    }
  }
}
admin.disconnect()
