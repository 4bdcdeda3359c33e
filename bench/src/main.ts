/**
 * The benchmark: every workload against every broker, three ways (Omnibus,
 * the raw client, the peer framework), interleaved repetitions, results to
 * bench/results/<timestamp>.json + latest.json (not with --no-report) and docs/benchmarks.md.
 *
 *   bash scripts/run.sh node bench/src/main.ts [--quick] [--brokers rabbitmq,nats] [--size N]
 *                                              [--workloads publish,rpc] [--contenders omnibus,amqplib] [--reps N]
 *                                              [--no-report] [--report]
 *
 * Each contender runs in a process of its own (bench/src/runner.ts, started by runners.ts), where
 * Omnibus loads from the built packages; dist/ is built first when missing or older than src/.
 * --workloads import measures start-up cost (import of the built packages) and needs no broker.
 *
 * OMNIBUS_BENCH_TRACING=on runs Omnibus with openTelemetry() on a recording SDK (clients/omnibus.ts).
 *
 * OMNIBUS_BENCH_RABBITMQ_QUEUE_TYPE=quorum runs RabbitMQ's groups (Omnibus and raw amqplib) on
 * quorum queues instead of classic ones.
 *
 * --quick writes bench/results/<timestamp>-quick.json and latest-quick.json and leaves
 * docs/benchmarks.md alone unless --report is given.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { randomBytes } from "node:crypto"
import { contenders } from "./clients/index.ts"
import { sizes as sizesFor } from "./config.ts"
import { describeMachine, locate, ROOT } from "./env.ts"
import { spread, type Spread } from "./stats.ts"
import type { Broker, Kind } from "./types.ts"
import { brokerVersion } from "./versions.ts"
import { describeError, WORKLOADS, type Workload } from "./workloads.ts"
import { Runners } from "./runners.ts"
import { ensureBuilt, IMPORT_CONTENDERS, sampleImport } from "./import-cost.ts"

// The order of the report. Memory's named in-process brokers are never released (adapters/memory/src/broker.ts):
// what its runs leave behind stays in its contenders' runner processes, which end with its workloads.
const BROKERS: ReadonlyArray<Broker> = ["rabbitmq", "nats", "redis", "kafka", "memory"]

/** --quick keeps under 3 minutes by measuring the peer framework (≈2.5 s of node start-up and discovery per measurement) on two workloads only. */
const QUICK_PEER_WORKLOADS: ReadonlyArray<Workload> = ["end-to-end", "rpc"]

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    brokers: { type: "string" },
    size: { type: "string" },
    workloads: { type: "string" },
    contenders: { type: "string" },
    reps: { type: "string" },
    "no-report": { type: "boolean", default: false },
    report: { type: "boolean", default: false },
  },
})

const list = <T extends string>(v: string | undefined, all: ReadonlyArray<T>, what: string): Array<T> => {
  if (v === undefined) return [...all]
  const picked = v.split(",").map((x) => x.trim()).filter(Boolean)
  for (const p of picked) if (!all.includes(p as T)) throw new Error(`bench: unknown ${what} "${p}" (one of ${all.join(", ")})`)
  return picked as Array<T>
}

const brokers = list(args.brokers, BROKERS, "broker")
const workloads = list(args.workloads, WORKLOADS, "workload")
const size = args.size === undefined ? undefined : Number(args.size)
if (size !== undefined && (!Number.isInteger(size) || size < 1_000)) throw new Error("bench: --size must be an integer >= 1000")
const base = sizesFor(args.quick ?? false, size)
const sizes = args.reps === undefined ? base : { ...base, reps: Math.max(1, Number(args.reps)), importSamples: Math.max(1, Number(args.reps)) }

export interface Run {
  readonly metrics: Record<string, number>
  readonly partial?: string
  readonly error?: string
  readonly seconds: number
}

export interface Cell {
  readonly broker: Broker
  readonly workload: Workload
  /** Memory workload: the backlog size. */
  readonly backlog?: number
  readonly contender: string
  readonly kind: Kind
  readonly status: "ok" | "partial" | "failed" | "skipped"
  readonly reason?: string
  readonly notes?: string
  readonly runs: Array<Run>
  readonly summary: Record<string, Spread>
}

export interface Results {
  readonly version: 1
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationSeconds: number
  readonly command: string
  /** Where the contenders ran: each in a process of its own (bench/src/runner.ts); absent in runs before, which ran them all in the bench's process. */
  readonly isolation?: "process per contender"
  readonly sizes: typeof sizes
  readonly machine: Awaited<ReturnType<typeof describeMachine>>
  readonly brokers: Record<string, { readonly available: boolean; readonly version?: string; readonly reason?: string }>
  readonly cells: Array<Cell>
}

const started = new Date()
const t0 = performance.now()
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s`
const log = (line: string) => process.stdout.write(`[${elapsed()}] ${line}\n`)
const runId = randomBytes(3).toString("hex")
let nsCounter = 0
const nextNs = () => `bench-${runId}-${++nsCounter}`

/** Latency runs once per contender (its three windows give the spread); memory and selective as their sizes say; the rest `reps` times. */
const repsOf = (w: Workload): number =>
  w === "latency" ? 1 : w === "memory" ? sizes.memoryReps : w === "selective" ? Math.min(sizes.reps, sizes.selectiveReps) : sizes.reps

const skipOf = (c: { kind: Kind; skips: Readonly<Record<string, string>> }, w: Workload): string | undefined =>
  c.skips[w] ?? (sizes.mode === "quick" && c.kind === "peer" && !QUICK_PEER_WORKLOADS.includes(w) ? "--quick measures the peer on end-to-end and RPC only" : undefined)

/** Beyond the workload's own deadlines (selective: its consumer's subscribe, warm-up, paced publishing, report and exit). */
const hardTimeoutOf = (w: Workload): number =>
  w === "selective"
    ? 60_000 + 30_000 + sizes.fillCapMs + (sizes.selectiveMessages / sizes.selectiveRate) * 1000 + 30_000 + 15_000 + 60_000
    : Math.max(sizes.capMs * 3, sizes.fillCapMs + sizes.drainCapMs, sizes.latencySeconds * 1000) + 90_000

const fmt = (m: Record<string, number>): string =>
  Object.entries(m)
    .filter(([k]) => !/^w\d/.test(k))
    .map(([k, v]) => `${k}=${v >= 100 ? Math.round(v) : v.toFixed(2)}`)
    .join(" ")

/** A cell from its runs: medians and spreads of every metric, and whether it measured anything. */
const cellOf = (broker: Broker, workload: Workload, backlog: number | undefined, c: { name: string; kind: Kind; notes?: string }, rs: Array<Run>, skip?: string): Cell => {
  const good = rs.filter((r) => !r.error)
  const keys = [...new Set(good.flatMap((r) => Object.keys(r.metrics)))]
  const summary = Object.fromEntries(keys.map((k) => [k, spread(good.map((r) => r.metrics[k] ?? Number.NaN))]))
  const status: Cell["status"] = skip ? "skipped" : good.length === 0 ? "failed" : good.some((r) => r.partial) ? "partial" : "ok"
  const reason = skip ?? (good.length === 0 ? rs[0]?.error : good.find((r) => r.partial)?.partial)
  return { broker, workload, backlog, contender: c.name, kind: c.kind, status, reason, notes: c.notes, runs: rs, summary }
}

/** The import workload needs no broker: fresh processes per sample, contenders alternating, on dist/. */
const runImports = async (cells: Array<Cell>): Promise<void> => {
  for (const broker of brokers) {
    const cs = IMPORT_CONTENDERS[broker]
    const runs = new Map<string, Array<Run>>(cs.map((c) => [c.name, []]))
    for (let i = 0; i < sizes.importSamples; i++) {
      for (const c of i % 2 === 0 ? cs : [...cs].reverse()) {
        const ts = performance.now()
        const run: Run = await sampleImport(c).then(
          (metrics) => ({ metrics, seconds: (performance.now() - ts) / 1000 }),
          (e: unknown) => ({ metrics: {}, error: describeError(e), seconds: (performance.now() - ts) / 1000 }),
        )
        runs.get(c.name)!.push(run)
      }
    }
    for (const c of cs) {
      const cell = cellOf(broker, "import", undefined, { ...c, notes: c.modules.length ? `imports ${c.modules.join(" + ")}` : "imports nothing" }, runs.get(c.name)!)
      cells.push(cell)
      log(`  ${`${broker} import ${c.name}`.padEnd(52)} ${cell.status === "failed" ? `FAILED ${cell.reason}` : fmt(Object.fromEntries(Object.entries(cell.summary).map(([k, v]) => [k, v.median])))}`)
    }
  }
}

const main = async () => {
  log(`omnibus bench (${sizes.mode}): brokers ${brokers.join(", ")}; workloads ${workloads.join(", ")}; ${sizes.reps} repetition(s)`)
  const cells: Array<Cell> = []
  const brokerInfo: Results["brokers"] = {}
  const versions: Record<string, string> = {}
  // Every workload loads Omnibus from dist/ as users do (import-cost.ts; runner.ts, where each contender runs).
  ensureBuilt(log)
  if (workloads.includes("import")) await runImports(cells)
  const brokerWorkloads = workloads.filter((w) => w !== "import")
  for (const broker of brokerWorkloads.length ? brokers : []) {
    const target = await locate(broker)
    if (!target.available) {
      log(`${broker}: not available (${target.reason}); skipped`)
      brokerInfo[broker] = { available: false, reason: target.reason }
      continue
    }
    const version = await brokerVersion(broker, target.url)
    versions[broker] = version
    brokerInfo[broker] = { available: true, version }
    log(`${broker}: ${version}`)
    const only = args.contenders?.split(",").map((x) => x.trim())
    const cs = (await contenders(broker, target.url)).filter((c) => !only || only.includes(c.name))
    const runners = new Runners(broker, target.url, sizes, log)
    for (const workload of brokerWorkloads) {
      const backlogs: Array<number | undefined> = workload === "memory" ? [...sizes.memoryBacklogs] : [undefined]
      for (const backlog of backlogs) {
        const runs = new Map<string, Array<Run>>(cs.map((c) => [c.name, []]))
        const reps = repsOf(workload)
        for (let rep = 0; rep < reps; rep++) {
          // Rotate the order each repetition so no contender always runs first (warm broker, page cache).
          const order = cs.map((_, i) => cs[(i + rep) % cs.length]!)
          for (const c of order) {
            if (skipOf(c, workload)) continue
            const ts = performance.now()
            const r = await runners.run(c.name, workload, nextNs(), backlog, hardTimeoutOf(workload))
            const seconds = (performance.now() - ts) / 1000
            const run: Run =
              r === "timeout"
                ? { metrics: {}, error: "did not finish (hard timeout)", seconds }
                : "error" in r
                  ? { metrics: {}, error: r.error, seconds }
                  : r.metrics.n === 0
                    ? { metrics: {}, error: r.partial ?? "nothing measured", seconds }
                    : { metrics: r.metrics, partial: r.partial, seconds }
            runs.get(c.name)!.push(run)
            const label = `${broker} ${workload}${backlog ? ` (backlog ${backlog})` : ""} #${rep + 1} ${c.name}`
            log(`  ${label.padEnd(52)} ${run.error ? `FAILED ${run.error}` : fmt(run.metrics)}${run.partial ? `  [partial: ${run.partial}]` : ""}  (${seconds.toFixed(1)}s)`)
          }
        }
        for (const c of cs) cells.push(cellOf(broker, workload, backlog, c, runs.get(c.name)!, skipOf(c, workload)))
      }
    }
    await runners.close()
  }
  const machine = await describeMachine(versions)
  const results: Results = {
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 1000),
    command: `node bench/src/main.ts ${process.argv.slice(2).join(" ")}`.trim(),
    isolation: "process per contender",
    sizes,
    machine,
    brokers: brokerInfo,
    cells,
  }
  const dir = join(ROOT, "bench/results")
  mkdirSync(dir, { recursive: true })
  const stamp = started.toISOString().replace(/[:.]/g, "-")
  const file = join(dir, `${stamp}${sizes.mode === "quick" ? "-quick" : ""}.json`)
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n")
  // A quick run is a smoke test: it does not replace the full run's latest.json and docs unless asked (--report).
  // A full run with --no-report (usually one broker or workload) leaves latest.json, which docs/benchmarks.md is made from, alone.
  const latest = sizes.mode === "quick" ? "latest-quick.json" : args["no-report"] ? undefined : "latest.json"
  if (latest !== undefined) writeFileSync(join(dir, latest), JSON.stringify(results, null, 2) + "\n")
  log(`results: ${file}${latest === undefined ? "" : ` (+ ${latest})`}`)
  if (sizes.mode === "quick" ? args.report : !args["no-report"]) {
    const { writeReport } = await import("./report.ts")
    const written = await writeReport(results)
    log(`report: ${written.join(", ")}`)
  }
  log(`done in ${results.durationSeconds}s`)
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
