/**
 * Soak (docs/conformance.md, "Bad input and soak"): many messages through 3
 * groups with memory sampled as they flow; after warm-up the heap must not grow.
 *
 *   describeSoak("rabbitmq", { connect: () => connect(URL), cleanup })
 *
 * OMNIBUS_SOAK_MESSAGES sets the size (default 20,000 for CI; `npm run soak`
 * runs 200,000). Every message goes to all 3 groups (fan-out): a plain one
 * (concurrency 16), one ordered by key (concurrency 8, 32 keys) and one whose
 * handler fails 1% of first attempts (the retry path: broker-side delays).
 * Each group must handle every message at least once; no fault is injected,
 * so a duplicate is a failure too.
 *
 * Memory: process.memoryUsage() every second (every 250 ms below 100,000
 * messages, so short runs still have samples to compare), each right after a
 * full GC (the live set: growth means a leak, not garbage not yet collected). Warm-up = the first
 * 20% of deliveries; the median heapUsed of the last third of the remaining
 * samples must stay within SOAK_HEAP_MARGIN of the median of the first third.
 * Nothing about timing is asserted; throughput is printed and recorded.
 *
 * Results go to conformance/results/soak/<name>.json; `node
 * conformance/src/soak-table.ts` prints the table of every broker's last run.
 */
import { randomBytes } from "node:crypto"
import type { Bus, Message } from "@omnibus/core"
import { afterAll, describe, expect, it } from "vitest"
import type { SectionId } from "./cases.ts"
import { median, MemorySampler, MiB, mib } from "./memory.ts"
import { ResultRecorder, resultsDir, writeResults } from "./results.ts"
import { errorText, eventually } from "./wait.ts"

export interface SoakHarness {
  /** Opens a bus on the broker under test. */
  connect(): Promise<Bus>
  /** Deletes the groups' broker state after the run. */
  cleanup?(groups: ReadonlyArray<string>): Promise<void>
  /** How long the consumers may lag behind the last publish (default 60 s + 1 s per 1,000 messages). */
  readonly drainMs?: number
}

export const SOAK_CASE = {
  id: 102,
  section: "B" as SectionId,
  title: "soak: messages through 3 groups, memory sampled, no heap growth after warm-up",
}

/** The allowed rise of the median heap from the first to the last third after warm-up. */
export const SOAK_HEAP_MARGIN = 32 * MiB
export const DEFAULT_SOAK_MESSAGES = 20_000

export const soakMessages = (): number => {
  const raw = process.env.OMNIBUS_SOAK_MESSAGES
  if (raw === undefined || raw === "") return DEFAULT_SOAK_MESSAGES
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1_000) throw new Error(`OMNIBUS_SOAK_MESSAGES must be an integer >= 1000 (got ${raw})`)
  return n
}

export const soakResultsDir = `${resultsDir}soak/`

/** Publishes in flight at once. */
const WINDOW = 1_000
const KEYS = 32
const PAD = "x".repeat(200)

interface Payload {
  readonly seq: number
  readonly pad: string
}

class GroupTally {
  readonly counts: Uint8Array
  distinct = 0
  duplicates = 0
  failedOnce = 0
  constructor(n: number) {
    this.counts = new Uint8Array(n)
  }
  record(seq: number): void {
    const c = this.counts[seq]!
    if (c === 0) this.distinct++
    else this.duplicates++
    if (c < 255) this.counts[seq] = c + 1
  }
}

export interface SoakRow {
  readonly broker: string
  readonly messages: number
  readonly deliveries: number
  readonly durationMs: number
  readonly msgPerSec: number
  readonly heapStartMiB: number
  readonly heapEndMiB: number
  readonly rssPeakMiB: number
}

export const formatSoakTable = (rows: ReadonlyArray<SoakRow>): string => {
  const head = ["broker", "messages", "deliveries", "duration", "msg/s", "heap start", "heap end", "rss peak"]
  const body = rows.map((r) => [
    r.broker,
    r.messages.toLocaleString("en-US"),
    r.deliveries.toLocaleString("en-US"),
    `${(r.durationMs / 1000).toFixed(1)} s`,
    Math.round(r.msgPerSec).toLocaleString("en-US"),
    `${r.heapStartMiB.toFixed(1)} MiB`,
    `${r.heapEndMiB.toFixed(1)} MiB`,
    `${r.rssPeakMiB.toFixed(1)} MiB`,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`
  return [line(head), `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...body.map(line)].join("\n")
}

export const describeSoak = (name: string, harness: SoakHarness): void => {
  describe(`soak: ${name}`, () => {
    const recorder = new ResultRecorder(name)
    const groups: Array<string> = []
    const messages = soakMessages()
    const drainMs = harness.drainMs ?? 60_000 + messages
    afterAll(async () => {
      const file = await writeResults(recorder, 1, soakResultsDir)
      console.log(`soak results for ${name}: ${file}`)
      await harness.cleanup?.(groups)
    })

    // Publishing is not bounded in time here (no timing is asserted): allow a slow broker ~2 ms per message.
    it(`${SOAK_CASE.title} (${messages.toLocaleString("en-US")} messages)`, { timeout: 120_000 + 2 * messages + drainMs }, async () => {
      const base = { id: SOAK_CASE.id, section: SOAK_CASE.section, title: SOAK_CASE.title }
      recorder.record({ ...base, status: "fail", reason: "did not finish within the test timeout", durationMs: 0 })
      const started = performance.now()
      const metrics: Record<string, number | string> = { messages }
      const buses: Array<Bus> = []
      try {
        const run = `sk${randomBytes(4).toString("hex")}`
        const key = (seq: number) => `${run}.load.k${seq % KEYS}`
        const names = { plain: `${run}-plain`, ordered: `${run}-ordered`, retrying: `${run}-retrying` }
        groups.push(names.plain, names.ordered, names.retrying)
        const consumerBus = await harness.connect()
        const publisherBus = await harness.connect()
        buses.push(consumerBus, publisherBus)
        const tallies = { plain: new GroupTally(messages), ordered: new GroupTally(messages), retrying: new GroupTally(messages) }
        const delivered = () => tallies.plain.distinct + tallies.ordered.distinct + tallies.retrying.distinct
        const sampler = new MemorySampler(messages >= 100_000 ? 1_000 : 250, delivered, { gc: true })

        const pattern = `${run}.load.*`
        await consumerBus.subscribe<Payload>(pattern, (m: Message<Payload>) => tallies.plain.record(m.payload.seq), { group: names.plain, concurrency: 16 })
        await consumerBus.subscribe<Payload>(
          pattern,
          (m: Message<Payload>) => tallies.ordered.record(m.payload.seq),
          { group: names.ordered, concurrency: 8, orderBy: "key" },
        )
        await consumerBus.subscribe<Payload>(
          pattern,
          (m: Message<Payload>) => {
            if (m.attempt === 1 && m.payload.seq % 100 === 7) {
              tallies.retrying.failedOnce++
              throw new Error("soak: planned failure (1%)")
            }
            tallies.retrying.record(m.payload.seq)
          },
          { group: names.retrying, concurrency: 16, retry: { attempts: 5, backoff: { initial: 50, factor: 2, jitter: false } } },
        )

        // Publish with a bounded window; nothing per message is kept.
        const publishStarted = performance.now()
        let next = 0
        let failed = 0
        let firstFailure: unknown
        const worker = async () => {
          while (next < messages) {
            const seq = next++
            try {
              await publisherBus.publish(key(seq), { seq, pad: PAD } satisfies Payload, { key: `k${seq % KEYS}` })
            } catch (e) {
              failed++
              firstFailure ??= e
            }
          }
        }
        await Promise.all(Array.from({ length: WINDOW }, worker))
        const publishMs = performance.now() - publishStarted
        expect(failed, `publishes failed (first: ${firstFailure === undefined ? "" : errorText(firstFailure)})`).toBe(0)

        await eventually(() => delivered() >= 3 * messages, {
          timeoutMs: drainMs,
          intervalMs: 100,
          what: () => `every group to handle all ${messages} messages (plain ${tallies.plain.distinct}, ordered ${tallies.ordered.distinct}, retrying ${tallies.retrying.distinct})`,
        })
        const durationMs = performance.now() - started
        sampler.stop()

        // Memory: after warm-up (20% of deliveries), first third vs last third of the samples.
        const after = sampler.after(Math.floor(0.2 * 3 * messages))
        const third = Math.max(1, Math.floor(after.length / 3))
        const firstThird = median(after.slice(0, third).map((s) => s.heapUsed))
        const middleThird = median(after.slice(third, after.length - third).map((s) => s.heapUsed))
        const lastThird = median(after.slice(-third).map((s) => s.heapUsed))
        const row: SoakRow = {
          broker: name,
          messages,
          deliveries: delivered(),
          durationMs: Math.round(durationMs),
          msgPerSec: messages / (durationMs / 1000),
          heapStartMiB: +(firstThird / MiB).toFixed(1),
          heapEndMiB: +(lastThird / MiB).toFixed(1),
          rssPeakMiB: +(sampler.rssPeak / MiB).toFixed(1),
        }
        Object.assign(metrics, row, {
          publishMsgPerSec: Math.round(messages / (publishMs / 1000)),
          heapMiddleMiB: +(middleThird / MiB).toFixed(1),
          heapMeasuredAfterGc: sampler.collected ? "yes" : "no",
          samplesAfterWarmUp: after.length,
          duplicates: tallies.plain.duplicates + tallies.ordered.duplicates + tallies.retrying.duplicates,
          plannedFailures: tallies.retrying.failedOnce,
        })
        console.log(`soak ${name}:\n${formatSoakTable([row])}\n(heap${sampler.collected ? " after a full GC" : ""}: medians of the first, middle and last third after warm-up, ${mib(firstThird)} / ${mib(middleThird)} / ${mib(lastThird)}, ${after.length} samples; publish ${Math.round(messages / (publishMs / 1000))} msg/s)`)

        expect([tallies.plain.distinct, tallies.ordered.distinct, tallies.retrying.distinct], "distinct messages per group").toEqual([messages, messages, messages])
        expect(tallies.retrying.failedOnce, "planned failures (then retried)").toBe(Math.floor((messages - 8) / 100) + 1)
        expect(metrics.duplicates, "duplicate deliveries (no fault was injected)").toBe(0)
        expect(after.length, "memory samples after warm-up").toBeGreaterThanOrEqual(3)
        expect(lastThird - firstThird, `heap growth after warm-up: ${mib(firstThird)} -> ${mib(lastThird)}`).toBeLessThan(SOAK_HEAP_MARGIN)
        recorder.record({ ...base, status: "pass", durationMs: Math.round(performance.now() - started), metrics })
      } catch (e) {
        recorder.record({ ...base, status: "fail", reason: errorText(e).split("\n")[0]!.slice(0, 300), durationMs: Math.round(performance.now() - started), metrics })
        throw e
      } finally {
        for (const b of buses) await b.close()
      }
    })
  })
}
