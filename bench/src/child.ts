/**
 * The consumer of the memory workload, in its own process: connects, reads
 * its RSS (baseline), drains the backlog of its group with the given
 * prefetch, and reports the peak RSS (sampled every 10 ms) to the parent over
 * IPC, with the heap still in use after a full GC before and after the drain:
 * peak RSS includes the garbage V8 has not collected yet (more allocation per
 * message = more headroom), the retained heap tells whether anything is kept.
 * Omnibus comes from dist/ here (workloads.ts runChild), as the raw clients' .js.
 */
import { load } from "./clients/index.ts"
import type { Broker } from "./types.ts"

interface Spec {
  readonly broker: Broker
  readonly url: string
  readonly contender: string
  readonly ns: string
  readonly group: string
  readonly count: number
  readonly prefetch: number
  readonly capMs: number
}

const spec = JSON.parse(process.env.BENCH_CHILD ?? "{}") as Spec
const MiB = 2 ** 20
const send = (m: unknown) => new Promise<void>((r) => process.send!(m, () => r()))

const main = async () => {
  const c = await load(spec.broker, spec.url, spec.contender)
  const s = await c.open(spec.ns)
  global.gc?.()
  const baseline = process.memoryUsage.rss()
  const heapBefore = process.memoryUsage().heapUsed
  let peak = baseline
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10)
  let consumed = 0
  let done!: () => void
  const all = new Promise<void>((r) => (done = r))
  const t0 = performance.now()
  const sub = await s.consume(spec.group, () => {
    if (++consumed === spec.count) done()
  }, { prefetch: spec.prefetch, concurrency: spec.prefetch })
  await Promise.race([all, new Promise((r) => setTimeout(r, spec.capMs))])
  const seconds = (performance.now() - t0) / 1000
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage.rss())
  global.gc?.()
  const retainedMiB = global.gc ? (process.memoryUsage().heapUsed - heapBefore) / MiB : Number.NaN
  await send({ baselineRssMiB: baseline / MiB, peakRssMiB: peak / MiB, retainedMiB, consumed, seconds })
  await Promise.race([sub.close().then(() => s.close()), new Promise((r) => setTimeout(r, 10_000))])
  process.exit(0)
}

main().catch(async (e: unknown) => {
  await send({ baselineRssMiB: Number.NaN, peakRssMiB: Number.NaN, retainedMiB: Number.NaN, consumed: 0, seconds: Number.NaN, error: e instanceof Error ? e.message : String(e) })
  process.exit(1)
})
