/**
 * The fault-case runner: one vitest `it` per fault, a context that tracks
 * buses and proxies (closed at the end), the suite's private broker, and the
 * recorder row with the case's numbers.
 */
import { randomBytes } from "node:crypto"
import { MemoryIdempotencyStore } from "@omnibus/core"
import type { Bus, IdempotencyStore, TransportOptions } from "@omnibus/core"
import { crash as coreCrash } from "@omnibus/core/testing"
import { it } from "vitest"
import type { Launcher } from "../brokers/common.ts"
import { faultInfo } from "../cases.ts"
import type { FaultId } from "../cases.ts"
import { TcpProxy } from "../proxy.ts"
import { errorText, eventually, runCase, withTimeout } from "../wait.ts"
import type { FaultHarness } from "./harness.ts"
import type { FaultMetrics, FaultRecorder } from "./recorder.ts"

export interface FaultSuite {
  readonly name: string
  readonly harness: FaultHarness
  readonly recorder: FaultRecorder
  readonly run: string
  readonly eventuallyMs: number
  readonly registered: Set<FaultId>
  /** The suite's broker (launched in beforeAll). */
  broker: Launcher | undefined
  /** Extra launchers (TLS/auth broker), stopped after all. */
  readonly launchers: Array<Launcher>
}

export const makeFaultSuite = (name: string, harness: FaultHarness, recorder: FaultRecorder): FaultSuite => ({
  name,
  harness,
  recorder,
  run: `ft${randomBytes(4).toString("hex")}`,
  eventuallyMs: harness.eventuallyMs ?? 30_000,
  registered: new Set(),
  broker: undefined,
  launchers: [],
})

export interface FaultContext {
  readonly suite: FaultSuite
  readonly harness: FaultHarness
  /** The suite's broker, running when the case starts. */
  readonly broker: Launcher
  readonly eventuallyMs: number
  /** Numbers recorded with the result (also on failure). */
  readonly metrics: FaultMetrics
  key(...words: ReadonlyArray<string | number>): string
  group(name?: string): string
  connect(url: string, options?: TransportOptions): Promise<Bus>
  crash(bus: Bus): Promise<void>
  /** Closes a bus now (the end of the case leaves it alone). */
  close(bus: Bus): Promise<void>
  proxy(targetPort: number): Promise<TcpProxy>
  store(): IdempotencyStore
  defer(fn: () => void | Promise<void>): void
  eventually(predicate: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs?: number): Promise<void>
  /** Prints a line into the test output (seeds, measurements). */
  note(line: string): void
}

/** The first line of an error text, at most 300 characters (a result row's reason). */
export const firstLine = (text: string): string => {
  const line = text.split("\n")[0] ?? text
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

export interface FaultOptions {
  readonly timeoutMs?: number
  /** Reported n/a with this reason instead of running. */
  readonly notApplicable?: string
}

export const defineFault = (suite: FaultSuite, id: FaultId, body: (ctx: FaultContext) => Promise<void>, options: FaultOptions = {}): void => {
  const info = faultInfo(id)
  const name = `${info.caseId !== undefined ? `case ${info.caseId}` : id}: ${info.title}`
  suite.registered.add(id)
  const base = { id, title: info.title }
  const unsupported = suite.harness.unsupported?.[id]
  if (unsupported !== undefined || options.notApplicable !== undefined) {
    const status = unsupported !== undefined ? ("unsupported" as const) : ("n/a" as const)
    const reason = unsupported ?? options.notApplicable ?? ""
    it(`${name} [${status}: ${reason}]`, () => {
      suite.recorder.record({ ...base, status, reason, durationMs: 0 })
    })
    return
  }
  const timeoutMs = options.timeoutMs ?? 120_000
  it(name, { timeout: timeoutMs }, async () => {
    const started = performance.now()
    const metrics: FaultMetrics = {}
    suite.recorder.record({ ...base, status: "fail", reason: `did not finish within the ${timeoutMs} ms test timeout`, durationMs: timeoutMs, metrics })
    const broker = suite.broker
    if (broker === undefined) throw new Error("the suite's broker did not start (see beforeAll)")
    if (!broker.running) await broker.restart()
    const opened: Array<Bus> = []
    const done = new Set<Bus>()
    const proxies: Array<TcpProxy> = []
    const deferred: Array<() => void | Promise<void>> = []
    const ctx: FaultContext = {
      suite,
      harness: suite.harness,
      broker,
      eventuallyMs: suite.eventuallyMs,
      metrics,
      key: (...words) => [suite.run, `f${id.replace(/[^a-z0-9]/gi, "").toLowerCase()}`, ...words.map(String)].join("."),
      group: (g = "g") => `${suite.run}-${id.replace(/[^a-z0-9]/gi, "").toLowerCase()}-${g}`,
      connect: async (url, o) => {
        const bus = await suite.harness.connect(url, o)
        opened.push(bus)
        return bus
      },
      crash: async (bus) => {
        done.add(bus)
        await coreCrash(bus)
      },
      close: async (bus) => {
        done.add(bus)
        await bus.close()
      },
      proxy: async (port) => {
        const p = await TcpProxy.start(port)
        proxies.push(p)
        return p
      },
      store: () => suite.harness.idempotencyStore?.() ?? new MemoryIdempotencyStore(),
      defer: (fn) => { deferred.push(fn) },
      eventually: (predicate, what, t) => eventually(predicate, { timeoutMs: t ?? suite.eventuallyMs, what, intervalMs: 25 }),
      note: (line) => { console.log(`[faults ${suite.name} ${id}] ${line}`) },
    }
    const ran = await runCase(() => body(ctx), deferred)
    let failure = ran.failure
    const cleanupErrors = ran.cleanupErrors
    for (const p of proxies) p.thaw()
    await Promise.all(opened.filter((b) => !done.has(b)).map(async (b) => {
      try {
        await withTimeout(b.close(), 20_000, "bus.close() at the end of the case")
      } catch (e) {
        cleanupErrors.push(errorText(e))
      }
    }))
    for (const p of proxies) await p.close()
    const durationMs = Math.round(performance.now() - started)
    if (failure === undefined && cleanupErrors.length > 0) failure = new Error(cleanupErrors.join("; "))
    if (failure !== undefined) {
      suite.recorder.record({ ...base, status: "fail", reason: firstLine(errorText(failure)), durationMs, metrics })
      throw failure
    }
    suite.recorder.record({ ...base, status: "pass", durationMs, metrics })
  })
}

/** A typed Omnibus error (has a string `_tag`). */
export const tagOf = (e: unknown): string | undefined => {
  const tag = (e as { _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : undefined
}
