/**
 * The consumer of the selective workload, in its own process so its CPU time
 * and socket reads are its own (the publisher runs in the parent). It
 * subscribes one group to one event type, tells the parent it is ready, and
 * on "start" snapshots its CPU time (process.cpuUsage: user + system) and the
 * bytes read by every TCP connection this process opened (socket.bytesRead,
 * sockets seen on node:net's "net.client.socket" diagnostics channel: what
 * the broker sent this consumer, protocol framing included); it reports the
 * differences once it handled `count` messages of its type, or on "stop".
 */
import { subscribe } from "node:diagnostics_channel"
import type { Socket } from "node:net"
import { load } from "./clients/index.ts"
import type { Body, Broker } from "./types.ts"

export interface SelectiveSpec {
  readonly broker: Broker
  readonly url: string
  readonly contender: string
  readonly ns: string
  readonly group: string
  readonly type: string
  /** Which seq values are this type's: seq % types === index (warm-up: seq - warm). */
  readonly index: number
  readonly types: number
  readonly warm: number
  readonly count: number
  readonly prefetch: number
}

/** Child → parent. */
export type SelectiveEvent =
  | { readonly event: "subscribed" }
  | { readonly event: "warm" }
  | { readonly event: "started" }
  | { readonly event: "report"; readonly handled: number; readonly wrong: number; readonly cpuUs: number; readonly bytesRead: number; readonly sockets: number; readonly error?: string }

const spec = JSON.parse(process.env.BENCH_SELECTIVE ?? "{}") as SelectiveSpec
const send = (m: SelectiveEvent) => new Promise<void>((r) => process.send!(m, () => r()))

const sockets: Array<Socket> = []
subscribe("net.client.socket", (m) => void sockets.push((m as { socket: Socket }).socket))
const bytesRead = () => sockets.reduce((sum, s) => sum + s.bytesRead, 0)

const main = async () => {
  const c = await load(spec.broker, spec.url, spec.contender)
  const s = await c.open(spec.ns)
  let handled = 0
  let wrong = 0
  let warmed = false
  let start: { cpu: NodeJS.CpuUsage; bytes: number } | undefined
  let reported = false
  const report = async (error?: string) => {
    if (reported) return
    reported = true
    const cpu = start ? process.cpuUsage(start.cpu) : undefined
    await send({ event: "report", handled, wrong, cpuUs: cpu ? cpu.user + cpu.system : Number.NaN, bytesRead: start ? bytesRead() - start.bytes : Number.NaN, sockets: sockets.length, error })
  }
  const sub = await s.consume(spec.group, (b: Body) => {
    if (b.seq >= spec.warm) {
      if (b.seq - spec.warm !== spec.index) wrong++
      else if (!warmed) {
        warmed = true
        void send({ event: "warm" })
      }
    } else if (b.seq % spec.types !== spec.index) wrong++
    else if (start && ++handled === spec.count) void report()
  }, { prefetch: spec.prefetch, concurrency: spec.prefetch, type: spec.type })
  process.on("message", (m: { cmd: "start" | "stop" }) => {
    if (m.cmd === "start") {
      start = { cpu: process.cpuUsage(), bytes: bytesRead() }
      void send({ event: "started" })
    } else void report().then(() => Promise.race([sub.close().then(() => s.close()), new Promise((r) => setTimeout(r, 10_000))])).then(() => process.exit(0))
  })
  await send({ event: "subscribed" })
}

main().catch(async (e: unknown) => {
  await send({ event: "report", handled: 0, wrong: 0, cpuUs: Number.NaN, bytesRead: Number.NaN, sockets: sockets.length, error: e instanceof Error ? e.message : String(e) })
  process.exit(1)
})
