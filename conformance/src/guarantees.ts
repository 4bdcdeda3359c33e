/**
 * Generates docs/guarantees.md from conformance/results/*.json:
 *
 *   node conformance/src/guarantees.ts    (Node >= 22.18; or through scripts/run.sh)
 *
 * One row per case of the registry (all 34), one column per adapter run: one per
 * broker version when the same adapter ran against several (the run's `server`).
 * Runs on Node 22's type stripping: erasable syntax and `.ts` imports only.
 */
import { readdir, readFile, writeFile, mkdir } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { serverLabel } from "./brokers/server.ts"
import type { BrokerServer } from "./brokers/server.ts"
import { CASES, CLUSTER_FAULTS, FAULTS, SECTIONS } from "./cases.ts"
import type { ClusterFaultId, FaultId, SectionId } from "./cases.ts"
import type { FaultResult, FaultRun } from "./faults/recorder.ts"
import type { CaseResult, RunResults } from "./results.ts"

const resultsDir = fileURLToPath(new URL("../results/", import.meta.url))
const output = fileURLToPath(new URL("../../docs/guarantees.md", import.meta.url))

/** First-party adapters first, in this order; others after, by name. */
const PREFERRED = ["memory", "rabbitmq", "nats", "kafka", "redis"]

/** Numeric order of dotted versions ("3.10.8" before "4.0.5"). */
const compareVersions = (a: string, b: string): number => {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10))
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0 && !Number.isNaN(d)) return d
  }
  return 0
}

/** Same adapter, then product (Redis before Valkey), then version ascending. */
const byServer = (a: BrokerServer | undefined, b: BrokerServer | undefined): number =>
  (a?.product ?? "").localeCompare(b?.product ?? "") || compareVersions(a?.version ?? "0", b?.version ?? "0")

/** Column and row label of a run: the adapter and, when known, the broker version it ran against. */
export const runLabel = (r: { readonly adapter: string; readonly server?: BrokerServer | undefined }): string =>
  r.server ? `${r.adapter} · ${serverLabel(r.server)}` : r.adapter

/** A fault run feeds the conformance run of the same broker version (either unknown: the adapter name alone decides). */
const sameServer = (a: BrokerServer | undefined, b: BrokerServer | undefined): boolean =>
  a === undefined || b === undefined || (a.product === b.product && a.version === b.version)

const isRun = (u: unknown): u is RunResults => {
  const r = u as Partial<RunResults> | null
  return typeof r === "object" && r !== null && typeof r.adapter === "string" && typeof r.runAt === "string" && Array.isArray(r.cases)
}

const loadRuns = async (): Promise<Array<RunResults>> => {
  let files: Array<string> = []
  try {
    files = (await readdir(resultsDir)).filter((f) => f.endsWith(".json") && !f.endsWith(".partial.json"))
  } catch {
    return []
  }
  const runs: Array<RunResults> = []
  for (const f of files.sort()) {
    try {
      const parsed: unknown = JSON.parse(await readFile(`${resultsDir}${f}`, "utf8"))
      if (isRun(parsed)) runs.push(parsed)
      else console.warn(`guarantees: skipping ${f} (not a results file)`)
    } catch (e) {
      console.warn(`guarantees: skipping ${f}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  // Variants ("rabbitmq-quorum") sort next to their adapter.
  const rank = (name: string): number => {
    const i = PREFERRED.indexOf(name.split(/[-_ ]/)[0] ?? name)
    return i === -1 ? PREFERRED.length : i
  }
  return runs.sort((a, b) => rank(a.adapter) - rank(b.adapter) || a.adapter.localeCompare(b.adapter) || byServer(a.server, b.server))
}

const isFaultRun = (u: unknown): u is FaultRun => {
  const r = u as Partial<FaultRun> | null
  return typeof r === "object" && r !== null && typeof r.adapter === "string" && Array.isArray(r.faults)
}

/** The fault suite's runs (results/faults/) or the cluster fault suite's (results/clusters/). */
const loadFaultRuns = async <Id extends string>(dir: "faults" | "clusters"): Promise<Array<FaultRun<Id>>> => {
  const folder = `${resultsDir}${dir}/`
  let files: Array<string> = []
  try {
    files = (await readdir(folder)).filter((f) => f.endsWith(".json") && !f.endsWith(".partial.json"))
  } catch {
    return []
  }
  const runs: Array<FaultRun<Id>> = []
  for (const f of files.sort()) {
    try {
      const parsed: unknown = JSON.parse(await readFile(`${folder}${f}`, "utf8"))
      if (isFaultRun(parsed)) runs.push(parsed as FaultRun<Id>)
    } catch (e) {
      console.warn(`guarantees: skipping ${dir}/${f}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  const rank = (name: string): number => {
    const i = PREFERRED.indexOf(name)
    return i === -1 ? PREFERRED.length : i
  }
  return runs.sort((a, b) => rank(a.adapter) - rank(b.adapter) || a.adapter.localeCompare(b.adapter) || byServer(a.server, b.server))
}

/**
 * Cases 28, 29 and 34 are measured by the fault suite: their rows go into the
 * conformance run of the same adapter name (not its variants: a fault run
 * of "rabbitmq" says nothing about quorum queues) on the same broker version, or a run of their own.
 */
export const mergeFaultCases = (runs: ReadonlyArray<RunResults>, faultRuns: ReadonlyArray<FaultRun>): Array<RunResults> => {
  const out = runs.map((r) => ({ ...r, cases: [...r.cases] }))
  for (const fr of faultRuns) {
    const rows: Array<CaseResult> = []
    for (const f of fr.faults) {
      const info = FAULTS.find((x) => x.id === f.id)
      if (info?.caseId === undefined) continue
      const c = CASES.find((x) => x.id === info.caseId)
      if (!c) continue
      rows.push({ id: c.id, section: c.section, title: c.title, status: f.status, durationMs: f.durationMs, ...(f.reason !== undefined ? { reason: f.reason } : {}) })
    }
    const targets = out.filter((r) => r.adapter === fr.adapter && sameServer(r.server, fr.server))
    if (targets.length === 0) {
      out.push({ adapter: fr.adapter, runAt: fr.runAt, node: fr.node, ...(fr.server ? { server: fr.server } : {}), cases: rows })
      continue
    }
    for (const t of targets) {
      for (const row of rows) {
        // a case the adapter declared unsupported in its conformance run keeps that declaration
        const i = t.cases.findIndex((c) => c.id === row.id)
        if (i === -1) t.cases.push(row)
        else if (t.cases[i]!.status !== "unsupported") t.cases[i] = row
      }
    }
  }
  return out
}

const seconds = (ms: number | undefined): string => (ms === undefined ? "–" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`)
const num = (n: number | undefined): string => (n === undefined ? "–" : n.toLocaleString("en-US"))

const faultStatus = (f: FaultResult<string> | undefined): string => {
  if (f === undefined) return "not run yet"
  switch (f.status) {
    case "pass":
      return "✅"
    case "fail":
      return `❌ ${cellText(f.reason ?? "")}`
    case "unsupported":
      return `➖ ${cellText(f.reason ?? "unsupported")}`
    case "n/a":
      return `n/a: ${cellText(f.reason ?? "")}`
  }
}

/** The "what survives what" table: broker × fault with the measured numbers. */
export const renderFaults = (faultRuns: ReadonlyArray<FaultRun>): Array<string> =>
  faultSection(
    "What survives what",
    "Measured by the fault suite (`describeFaults`, `conformance/src/faults/`) against a private broker each run starts, " +
      "kills with SIGKILL, restarts on the same port and data dir, and proxies (cut = every connection reset, stall = link frozen, sockets open). " +
      "**sent**: messages the case published; **lost**: confirmed publishes never handled (a publish rejected with a typed error is reported to its caller, not lost: counted as rejected); " +
      "**handled twice**: handler completions per id above one, with an idempotency store where the case uses one; **redelivered**: deliveries the store recognised as duplicates; " +
      "**detection**: fault to `health()` not ready; **recovery**: end of the fault to a message published after it being handled (consumer kill: to the last of the dead consumer's messages handled by the survivor). " +
      "RPC storm (G-rpc-kill): **sent** = requests, **rejected** = requests that failed with a typed error, **recovery** = kill to the send time of the latest failing request.",
    faultRuns,
    FAULTS,
    "No fault-suite results yet.",
  )

/** A section: heading, what it measures, then broker × fault rows. */
const faultSection = <Id extends string>(title: string, intro: string, runs: ReadonlyArray<FaultRun<Id>>, catalogue: ReadonlyArray<{ readonly id: Id; readonly title: string; readonly caseId?: number }>, none: string): Array<string> =>
  [`## ${title}`, "", intro, "", ...faultTable(runs, catalogue, none)]

/** Broker × fault rows with the measured numbers, in the catalogue's order (`none` when there are no runs). */
const faultTable = <Id extends string>(runs: ReadonlyArray<FaultRun<Id>>, catalogue: ReadonlyArray<{ readonly id: Id; readonly title: string; readonly caseId?: number }>, none: string): Array<string> => {
  const lines: Array<string> = []
  if (runs.length === 0) return [none, ""]
  for (const r of runs) lines.push(`- **${runLabel(r)}**: ${r.runAt} (Node ${r.node})`)
  lines.push("")
  const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`
  lines.push(row(["Broker", "Fault", "Result", "Sent", "Lost", "Handled twice", "Rejected", "Redelivered", "Detection", "Recovery", "Notes"]))
  lines.push(row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"]))
  for (const r of runs) {
    const byId = new Map(r.faults.map((f) => [f.id, f]))
    for (const info of catalogue) {
      const f = byId.get(info.id)
      const m = f?.metrics ?? {}
      const name = info.caseId !== undefined ? `${info.caseId}. ${info.title}` : `${info.id}: ${info.title}`
      lines.push(row([
        cellText(runLabel(r)), cellText(name), faultStatus(f), num(m.sent), num(m.lost), num(m.handledTwice), num(m.rejected), num(m.redelivered),
        seconds(m.detectionMs), seconds(m.recoveryMs), cellText([m.connections !== undefined ? `${m.connections} connections at the proxy` : "", m.note ?? ""].filter(Boolean).join("; ")),
      ]))
    }
  }
  lines.push("")
  return lines
}

/** The "what survives what — clusters" table: broker × cluster fault (`npm run test:clusters`). */
export const renderClusterFaults = (clusterRuns: ReadonlyArray<FaultRun<ClusterFaultId>>): Array<string> =>
  faultSection(
    "What survives what — clusters",
    "Measured by the cluster fault suite (`describeClusterFaults`, `conformance/src/clusters/`, `npm run test:clusters`) against three-node clusters " +
      "`scripts/clusters/` starts on this machine, with the replication settings of [clusters.md](clusters.md). Columns as above; " +
      "**recovery**: the node kill to a message published after it being handled (rolling restart: the worst of the three kills; RPC: the surviving requester's last failure).",
    clusterRuns,
    CLUSTER_FAULTS,
    "No cluster results yet.",
  )

const cellText = (s: string): string => s.replace(/[|*_]/g, (c) => `\\${c}`).replace(/\s+/g, " ").trim()

const cell = (result: CaseResult | undefined, notRun = "not run yet"): string => {
  if (result === undefined) return notRun
  switch (result.status) {
    case "pass":
      return "✅"
    case "fail":
      return "❌"
    case "unsupported":
      return `➖ unsupported: ${cellText(result.reason ?? "no reason given")}`
    case "n/a":
      return `n/a: ${cellText(result.reason ?? "no reason given")}`
  }
}

/**
 * The case table: one row per case of the registry, one column per run.
 * `notRun(id)` words the cell of a case a run has no result for (default "not run yet").
 */
export const renderCaseTable = (runs: ReadonlyArray<RunResults>, notRun: (id: number) => string | undefined = () => undefined): Array<string> => {
  const lines: Array<string> = []
  const byId = runs.map((r) => new Map(r.cases.map((c) => [c.id, c])))
  const sections = Object.keys(SECTIONS) as Array<SectionId>
  const row = (cells: ReadonlyArray<string>): string => `| ${cells.join(" | ")} |`
  lines.push(row(["Case", ...runs.map((r) => cellText(runLabel(r)))]))
  lines.push(row(["---", ...runs.map(() => "---")]))
  for (const section of sections) {
    lines.push(row([`**${section}. ${SECTIONS[section]}**`, ...runs.map(() => "")]))
    for (const c of CASES.filter((x) => x.section === section)) {
      const why = notRun(c.id)
      lines.push(row([`${c.id}. ${cellText(c.title)}`, ...byId.map((m) => cell(m.get(c.id), why === undefined ? undefined : `skipped: ${cellText(why)}`))]))
    }
  }
  return lines
}

export const render = (conformanceRuns: ReadonlyArray<RunResults>, faultRuns: ReadonlyArray<FaultRun> = [], clusterRuns: ReadonlyArray<FaultRun<ClusterFaultId>> = []): string => {
  const runs = mergeFaultCases(conformanceRuns, faultRuns)
  const lines: Array<string> = []
  lines.push("<!-- Generated by conformance/src/guarantees.ts from conformance/results/*.json. Do not edit by hand. -->")
  lines.push("")
  lines.push("# Guarantees")
  lines.push("")
  lines.push(
    `Which of the ${CASES.length} cases of the conformance contract ([conformance.md](conformance.md), sections A–H) each adapter passes, ` +
      "as measured by the last run of `@omnibus/conformance` against it. Regenerate with `bash scripts/run.sh node conformance/src/guarantees.ts` (Node >= 22.18).",
  )
  lines.push("")
  lines.push(
    "A column per adapter and broker version, as the server reported it at connect (Kafka: the version launched): `npm test` runs every adapter on the machine's brokers " +
      "and the conformance and fault suites again on the newest version of each broker; `npm run test:matrix` on every version of the matrix (`scripts/matrix/brokers.sh`).",
  )
  lines.push("")
  if (runs.length === 0) {
    lines.push("No results yet: run an adapter's conformance test first.")
  } else {
    lines.push("Runs:")
    lines.push("")
    for (const r of runs) {
      const counts = { pass: 0, fail: 0, unsupported: 0, "n/a": 0 }
      for (const c of r.cases) counts[c.status]++
      lines.push(
        `- **${runLabel(r)}**: ${r.runAt} (Node ${r.node}): ${counts.pass} passed, ${counts.fail} failed, ${counts.unsupported} unsupported, ${counts["n/a"]} n/a`,
      )
    }
  }
  lines.push("")
  lines.push("✅ pass · ❌ fail · ➖ unsupported (declared by the adapter, with its reason) · n/a: not applicable to the broker · not run yet: no result in the runs above")
  lines.push("")
  lines.push(...renderCaseTable(runs))
  const failures = runs.flatMap((r) => r.cases.filter((c) => c.status === "fail").map((c) => ({ adapter: runLabel(r), c })))
  if (failures.length > 0) {
    lines.push("")
    lines.push("## Failures")
    lines.push("")
    for (const { adapter, c } of failures) lines.push(`- ${adapter}, case ${c.id} (${c.title}): ${cellText(c.reason ?? "no reason recorded")}`)
  }
  lines.push("")
  lines.push(...renderFaults(faultRuns))
  lines.push(...renderClusterFaults(clusterRuns))
  return lines.join("\n")
}

const main = async (): Promise<void> => {
  const runs = await loadRuns()
  const faultRuns = await loadFaultRuns<FaultId>("faults")
  const clusterRuns = await loadFaultRuns<ClusterFaultId>("clusters")
  await mkdir(fileURLToPath(new URL("../../docs/", import.meta.url)), { recursive: true })
  await writeFile(output, render(runs, faultRuns, clusterRuns))
  console.log(`wrote ${output} from ${runs.length} run(s): ${runs.map((r) => `${runLabel(r)} ${r.runAt}`).join(", ") || "none"}; fault runs: ${faultRuns.map(runLabel).join(", ") || "none"}; cluster runs: ${clusterRuns.map(runLabel).join(", ") || "none"}`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main()
}
