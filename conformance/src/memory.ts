/**
 * Memory sampling for the bad-input and soak suites: process.memoryUsage()
 * every `intervalMs`, with helpers to compare phases. Timings are never
 * asserted; memory is compared with generous margins only.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

export interface MemorySample {
  /** Milliseconds since the sampler started. */
  readonly at: number
  readonly heapUsed: number
  readonly rss: number
  /** A caller-defined progress figure at the time of the sample (e.g. messages settled). */
  readonly progress: number
}

export const MiB = 1024 * 1024

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * A full garbage collection, so that heapUsed is the live set (a leak) rather
 * than whatever garbage the last collection left (noise). Node exposes `gc`
 * only with --expose-gc; the flag can be set at run time and the function
 * taken from a fresh context. Undefined if that is not possible.
 */
export const fullGc: (() => void) | undefined = (() => {
  const existing = (globalThis as { gc?: () => void }).gc
  if (typeof existing === "function") return existing
  try {
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as unknown
    return typeof gc === "function" ? (gc as () => void) : undefined
  } catch {
    return undefined
  }
})()

export class MemorySampler {
  readonly samples: Array<MemorySample> = []
  private readonly started = performance.now()
  private timer: NodeJS.Timeout | undefined
  private readonly progress: () => number
  private readonly gc: boolean

  /** `gc`: collect before each sample (live-set figures; costs a full GC per sample). */
  constructor(intervalMs: number, progress: () => number, options: { readonly gc?: boolean } = {}) {
    this.progress = progress
    this.gc = options.gc === true && fullGc !== undefined
    this.sample()
    this.timer = setInterval(() => this.sample(), intervalMs)
    this.timer.unref()
  }

  /** Whether heap figures are taken right after a full GC. */
  get collected(): boolean {
    return this.gc
  }

  sample(): MemorySample {
    if (this.gc) fullGc!()
    const m = process.memoryUsage()
    const s: MemorySample = { at: Math.round(performance.now() - this.started), heapUsed: m.heapUsed, rss: m.rss, progress: this.progress() }
    this.samples.push(s)
    return s
  }

  /** Takes a last sample and stops. */
  stop(): void {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    this.sample()
  }

  /** Samples taken once progress reached `progress` (the warm-up is over). */
  after(progress: number): Array<MemorySample> {
    return this.samples.filter((s) => s.progress >= progress)
  }

  get rssPeak(): number {
    return Math.max(...this.samples.map((s) => s.rss))
  }

  get heapPeak(): number {
    return Math.max(...this.samples.map((s) => s.heapUsed))
  }
}
