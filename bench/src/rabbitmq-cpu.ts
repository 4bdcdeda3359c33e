/**
 * CPU and bytes per message, Node and RabbitMQ, for the bench's RabbitMQ contenders (the same
 * sessions as bench/src/clients): on a shared, loaded machine throughput swings with the
 * neighbours' load, CPU time per message much less. Node: this process's user + system time
 * (process.cpuUsage); RabbitMQ: the broker's beam.smp user + system time (/proc/<pid>/stat, so
 * run it against a broker nobody else publishes to); bytes: what this process's sockets wrote
 * and read. Contenders alternate within each repetition. Workloads as in bench/src/workloads.ts.
 * Run: N=20000 REPS=3 bash scripts/run.sh node bench/src/rabbitmq-cpu.ts [contenders] [workloads]
 */
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import net from "node:net"
import { loadavg } from "node:os"
import { load } from "./clients/index.ts"
import { publishWindowed } from "./workloads.ts"
import { body, type Body, type Session } from "./types.ts"

const url = process.env.OMNIBUS_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const contenders = (process.argv[2] ?? "omnibus,amqplib,amqplib-ids").split(",")
const workloads = (process.argv[3] ?? "publish,publish-batch,end-to-end").split(",")
const N = Number(process.env.N ?? 20_000)
const REPS = Number(process.env.REPS ?? 3)

/** The beam.smp that listens on the URL's port (the broker serving this run). */
const brokerPid = (): number => {
  if (process.env.RABBIT_PID) return Number(process.env.RABBIT_PID)
  const port = new URL(url).port || "5672"
  const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" })
  const m = /"beam\.smp",pid=(\d+)/.exec(out)
  if (!m) throw new Error(`no beam.smp listening on :${port}`)
  return Number(m[1])
}
const pid = brokerPid()
const TICK_US = 1e6 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
/** utime + stime of the broker, µs (fields 14 and 15 of /proc/<pid>/stat, after the command name). */
const brokerCpu = (): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(f[11]) + Number(f[12])) * TICK_US
}

/** Every socket this process opens, for bytes written and read. */
const sockets: Array<net.Socket> = []
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (this: net.Socket, ...args: Array<unknown>) {
  sockets.push(this)
  return (connect as (...a: Array<unknown>) => net.Socket).apply(this, args)
} as typeof connect
const bytes = (): { w: number; r: number } => sockets.reduce((a, s) => ({ w: a.w + s.bytesWritten, r: a.r + s.bytesRead }), { w: 0, r: 0 })
/** Writes handed to the sockets (one write or writev each: how the client coalesces its frames). */
let writes = 0
const proto = net.Socket.prototype as unknown as Record<"_write" | "_writev", (...a: Array<unknown>) => unknown>
for (const m of ["_write", "_writev"] as const) {
  const orig = proto[m]
  proto[m] = function (this: unknown, ...a: Array<unknown>) {
    writes++
    return orig.apply(this, a)
  }
}

const until = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2))
}

/** Runs one workload; returns the number of messages it published. */
const run = async (s: Session, w: string): Promise<number> => {
  const far = performance.now() + 120_000
  switch (w) {
    case "publish":
      return (await publishWindowed(s, N, 1_000, far)).confirmed
    case "publish-batch":
      for (let i = 0; i < N; i += 1_000) await s.publishBatch(Array.from({ length: 1_000 }, (_, k) => body(i + k)))
      return N
    case "end-to-end": {
      let got = 0
      const sub = await s.consume("g", (_b: Body) => void got++, { prefetch: 1_000, concurrency: 100 })
      await publishWindowed(s, N, 1_000, far)
      await until(() => got >= N, 60_000)
      await sub.close()
      return got
    }
  }
  throw new Error(`no workload ${w}`)
}

console.log(`${new Date().toISOString()} ${url} (beam.smp ${pid}), ${N} messages per run, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}`)
for (const w of workloads) {
  for (let rep = 0; rep < REPS; rep++) {
    for (const name of rep % 2 === 0 ? contenders : [...contenders].reverse()) {
      const c = await load("rabbitmq", url, name)
      const ns = `cpu${randomUUID().slice(0, 8)}`
      const s = await c.open(ns)
      await s.declareGroup("g")
      for (let k = 0; k < 20; k++) await s.publish(body(-1 - k)) // warm-up: connection, JIT
      const b0 = bytes()
      const w0 = writes
      const r0 = brokerCpu()
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const n = await run(s, w)
      const ms = performance.now() - t0
      const c1 = process.cpuUsage(c0)
      const r1 = brokerCpu() - r0
      const b1 = bytes()
      const w1 = writes - w0
      await s.close()
      await c.cleanup(ns, ["g"])
      console.log(
        `${w.padEnd(14)} ${name.padEnd(12)} node ${((c1.user + c1.system) / n).toFixed(1).padStart(6)} µs  broker ${(r1 / n).toFixed(1).padStart(6)} µs  per msg;  ` +
          `out ${((b1.w - b0.w) / n).toFixed(0).padStart(4)} B  in ${((b1.r - b0.r) / n).toFixed(1).padStart(5)} B per msg, ${(n / w1).toFixed(1).padStart(5)} msg/write;  ${Math.round(n / (ms / 1000)).toString().padStart(6)} /s wall (n ${n}, load ${loadavg()[0]!.toFixed(1)})`,
      )
    }
  }
}
process.exit(0)
