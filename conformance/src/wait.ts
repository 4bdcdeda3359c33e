/**
 * Waiting without fixed sleeps: `eventually` polls a predicate against a
 * deadline and fails with what it was waiting for and what it saw. `delay`
 * exists only to simulate work inside handlers (never to cover a race).
 */
import type { Message } from "@omnibus/core"

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** `promise`, or an Error naming `what` once `ms` pass first. */
export const withTimeout = async <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface EventuallyOptions {
  readonly timeoutMs: number
  /** What we wait for; a function so that the failure shows the state at the deadline. */
  readonly what: string | (() => string)
  /** Poll interval (default 15 ms). */
  readonly intervalMs?: number
}

/** Polls `predicate` every 10–20 ms until it holds; throws a descriptive error at the deadline. */
export const eventually = async (
  predicate: () => boolean | Promise<boolean>,
  options: EventuallyOptions,
): Promise<void> => {
  const started = performance.now()
  const deadline = started + options.timeoutMs
  const interval = options.intervalMs ?? 15
  let lastError: unknown
  for (;;) {
    try {
      if (await predicate()) return
      lastError = undefined
    } catch (e) {
      lastError = e
    }
    if (performance.now() >= deadline) {
      const what = typeof options.what === "string" ? options.what : options.what()
      const cause = lastError === undefined ? "" : ` (last check threw: ${errorText(lastError)})`
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${cause}`)
    }
    await delay(interval)
  }
}

/**
 * Runs a case's body, then (always) its deferred cleanups in reverse order; returns the
 * body's error, if any, and the cleanups' errors. Shared by the suites' case runners.
 */
export const runCase = async (body: () => Promise<void>, deferred: Array<() => void | Promise<void>>): Promise<{ failure: unknown; cleanupErrors: Array<string> }> => {
  let failure: unknown
  try {
    await body()
  } catch (e) {
    failure = e
  }
  const cleanupErrors: Array<string> = []
  for (const fn of deferred.reverse()) {
    try {
      await fn()
    } catch (e) {
      cleanupErrors.push(`cleanup: ${errorText(e)}`)
    }
  }
  return { failure, cleanupErrors }
}

export const errorText = (e: unknown): string => {
  if (e instanceof Error) {
    const tag = (e as { _tag?: unknown })._tag
    return `${typeof tag === "string" ? `${tag}: ` : ""}${e.message}`
  }
  return String(e)
}

/** A promise with its resolve function outside (a gate a handler can wait on). */
export interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  readonly settled: boolean
}

export const deferred = <T = void>(): Deferred<T> => {
  let resolveFn: (value: T) => void = () => undefined
  let settled = false
  const promise = new Promise<T>((resolve) => {
    resolveFn = resolve
  })
  return {
    promise,
    resolve: (value: T) => {
      settled = true
      resolveFn(value)
    },
    get settled() {
      return settled
    },
  }
}

/**
 * Records what a subscription receives: every delivery in arrival order and
 * a count per message id (a count above 1 is a duplicate).
 */
export class Collector<T = unknown> {
  readonly messages: Array<Message<T>> = []
  private readonly counts = new Map<string, number>()

  /** Pass as the subscription handler (or call from a custom handler). */
  readonly handler = (message: Message<T>): void => {
    this.record(message)
  }

  record(message: Message<T>): void {
    this.messages.push(message)
    this.counts.set(message.id, (this.counts.get(message.id) ?? 0) + 1)
  }

  /** Distinct ids received. */
  get size(): number {
    return this.counts.size
  }

  /** Deliveries received, duplicates included. */
  get total(): number {
    return this.messages.length
  }

  has(id: string): boolean {
    return this.counts.has(id)
  }

  count(id: string): number {
    return this.counts.get(id) ?? 0
  }

  ids(): Set<string> {
    return new Set(this.counts.keys())
  }

  first(id: string): Message<T> | undefined {
    return this.messages.find((m) => m.id === id)
  }

  /** Ids received more than once. */
  duplicates(): Array<string> {
    return [...this.counts].filter(([, n]) => n > 1).map(([id]) => id)
  }

  /** Ids of `expected` not received yet. */
  missing(expected: Iterable<string>): Array<string> {
    const out: Array<string> = []
    for (const id of expected) if (!this.counts.has(id)) out.push(id)
    return out
  }

  /** Waits until every id of `expected` has arrived at least once. */
  async waitForIds(expected: Iterable<string>, timeoutMs: number, label = "subscription"): Promise<void> {
    const want = [...expected]
    await eventually(() => want.every((id) => this.counts.has(id)), {
      timeoutMs,
      what: () => {
        const miss = this.missing(want)
        return `${label} to receive ${want.length} messages: ${miss.length} missing (e.g. ${miss.slice(0, 3).join(", ")}), ${this.size} distinct received`
      },
    })
  }
}

/** Counts handlers running at once and remembers the maximum. */
export class ConcurrencyGauge {
  running = 0
  max = 0

  async around<R>(work: () => Promise<R>): Promise<R> {
    this.running++
    if (this.running > this.max) this.max = this.running
    try {
      return await work()
    } finally {
      this.running--
    }
  }
}

/** Runs `fn` for 0..n-1 with at most `window` calls in flight; results in index order. */
export const mapWindowed = async <R>(n: number, window: number, fn: (i: number) => Promise<R>): Promise<Array<R>> => {
  const out = new Array<R>(n)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      out[i] = await fn(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker))
  return out
}
