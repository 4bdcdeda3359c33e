/**
 * The cluster-case runner: one vitest `it` per case, a context that tracks the
 * buses it opened (closed at the end) and the nodes it killed (started again at
 * the end, so every case begins on a whole cluster), and the recorder row with
 * the case's numbers (the fault suite's FaultRecorder and FaultMetrics).
 */
import { randomBytes } from "node:crypto"
import { MemoryIdempotencyStore } from "@omnibus/core"
import type { Bus, IdempotencyStore, TransportOptions } from "@omnibus/core"
import { crash as coreCrash } from "@omnibus/core/testing"
import { it } from "vitest"
import { CLUSTER_FAULTS, type ClusterFaultId } from "../cases.ts"
import { firstLine } from "../faults/context.ts"
import type { FaultMetrics, FaultRecorder } from "../faults/recorder.ts"
import { errorText, eventually, runCase, withTimeout } from "../wait.ts"
import type { ClusterHarness, ClusterNode } from "./harness.ts"

export interface ClusterSuite {
  readonly name: string
  readonly harness: ClusterHarness
  readonly recorder: FaultRecorder<ClusterFaultId>
  readonly run: string
  readonly registered: Set<ClusterFaultId>
  /** Nodes killed and not started again yet. */
  readonly down: Set<ClusterNode>
  /** Every group a case named (ctx.group), removed after the suite (harness.deleteGroups). */
  readonly groups: Set<string>
  /** The cases to run (default: all). */
  readonly only: ReadonlySet<ClusterFaultId> | undefined
}

export const makeClusterSuite = (name: string, harness: ClusterHarness, recorder: FaultRecorder<ClusterFaultId>, only?: ReadonlyArray<ClusterFaultId>): ClusterSuite => ({
  name,
  harness,
  recorder,
  only: only === undefined ? undefined : new Set(only),
  run: `cl${randomBytes(4).toString("hex")}`,
  registered: new Set(),
  down: new Set(),
  groups: new Set(),
})

export interface ClusterContext {
  readonly suite: ClusterSuite
  readonly harness: ClusterHarness
  readonly metrics: FaultMetrics
  key(...words: ReadonlyArray<string | number>): string
  group(name?: string): string
  connect(url: string, options?: TransportOptions): Promise<Bus>
  /** Closes a bus now (the end of the case leaves it alone). */
  close(bus: Bus): Promise<void>
  /** Drops a bus's connections at once, as a crashed process would (core's `crash`); the end of the case leaves it alone. */
  crash(bus: Bus): Promise<void>
  /** The nodes in this order, then the others: a URL whose bus connects to `first` first. */
  urlFirst(first: ClusterNode): string
  kill(node: ClusterNode): Promise<void>
  restart(node: ClusterNode): Promise<void>
  store(): IdempotencyStore
  defer(fn: () => void | Promise<void>): void
  eventually(predicate: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs?: number): Promise<void>
  note(line: string): void
}

export const defineClusterFault = (suite: ClusterSuite, id: ClusterFaultId, body: (ctx: ClusterContext) => Promise<void>, options: { readonly timeoutMs?: number } = {}): void => {
  const title = CLUSTER_FAULTS.find((f) => f.id === id)!.title
  if (suite.only !== undefined && !suite.only.has(id)) return
  suite.registered.add(id)
  const timeoutMs = options.timeoutMs ?? 180_000
  it(`${id}: ${title}`, { timeout: timeoutMs }, async () => {
    const started = performance.now()
    const metrics: FaultMetrics = {}
    suite.recorder.record({ id, title, status: "fail", reason: `did not finish within the ${timeoutMs} ms test timeout`, durationMs: timeoutMs, metrics })
    const h = suite.harness
    const opened: Array<Bus> = []
    const done = new Set<Bus>()
    const deferred: Array<() => void | Promise<void>> = []
    const tag = id.replace(/[^a-z0-9]/gi, "").toLowerCase()
    const ctx: ClusterContext = {
      suite,
      harness: h,
      metrics,
      key: (...words) => [suite.run, tag, ...words.map(String)].join("."),
      group: (g = "g") => {
        const name = `${suite.run}-${tag}-${g}`
        suite.groups.add(name)
        return name
      },
      connect: async (url, o) => {
        const bus = await h.connect(url, o)
        opened.push(bus)
        return bus
      },
      close: async (bus) => {
        done.add(bus)
        await bus.close()
      },
      crash: async (bus) => {
        done.add(bus)
        await coreCrash(bus)
      },
      urlFirst: (first) => h.url([first, ...h.nodes.filter((n) => n !== first)]),
      kill: async (node) => {
        suite.down.add(node)
        await node.kill()
      },
      restart: async (node) => {
        await node.restart()
        suite.down.delete(node)
      },
      store: () => h.idempotencyStore?.() ?? new MemoryIdempotencyStore(),
      defer: (fn) => { deferred.push(fn) },
      eventually: (predicate, what, t) => eventually(predicate, { timeoutMs: t ?? 60_000, what, intervalMs: 25 }),
      note: (line) => { console.log(`[clusters ${suite.name} ${id}] ${line}`) },
    }
    const ran = await runCase(() => body(ctx), deferred)
    let failure = ran.failure
    const cleanupErrors = ran.cleanupErrors
    // every case begins on a whole cluster
    for (const node of [...suite.down]) {
      try {
        await ctx.restart(node)
      } catch (e) {
        cleanupErrors.push(`restart of ${node.name}: ${errorText(e)}`)
      }
    }
    await Promise.all(opened.filter((b) => !done.has(b)).map(async (b) => {
      try {
        await withTimeout(b.close(), 30_000, "bus.close() at the end of the case")
      } catch (e) {
        cleanupErrors.push(errorText(e))
      }
    }))
    const durationMs = Math.round(performance.now() - started)
    if (failure === undefined && cleanupErrors.length > 0) failure = new Error(cleanupErrors.join("; "))
    if (failure !== undefined) {
      suite.recorder.record({ id, title, status: "fail", reason: firstLine(errorText(failure)), durationMs, metrics })
      throw failure
    }
    suite.recorder.record({ id, title, status: "pass", durationMs, metrics })
  })
}
