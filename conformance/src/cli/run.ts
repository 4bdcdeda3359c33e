/**
 * The conformance CLI's run (main.ts is the command): the suite in vitest
 * against one URL, and its table (guarantees.ts renderCaseTable).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { extname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CASES } from "../cases.ts"
import type { FaultRun } from "../faults/recorder.ts"
import { mergeFaultCases, renderCaseTable } from "../guarantees.ts"
import type { CaseResult, RunResults } from "../results.ts"
import { profileFor } from "./profiles.ts"
import { FAULT_SKIP, FOREIGN_SKIP, SETTINGS_VARIABLE, type CliSettings } from "./settings.ts"

/** Cases this CLI skips, with why: the fault suite's unless --kill and --start are given; the foreign-producer ones always. */
export const skippedCases = (settings: CliSettings): ReadonlyMap<number, string> => new Map([
  ...(settings.kill !== undefined && settings.start !== undefined ? [] : CASES.filter((c) => c.section === "G").map((c): [number, string] => [c.id, FAULT_SKIP])),
  [36, FOREIGN_SKIP],
  [37, FOREIGN_SKIP],
])

export interface CliRun {
  readonly run: RunResults
  readonly skipped: ReadonlyArray<{ readonly id: number; readonly reason: string }>
}

const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, "//***@")

/** Runs one suite file of this folder in vitest (from source in this repository: packages resolve to their src/). */
const runSuite = async (file: string, results: string, testNamePattern?: RegExp): Promise<void> => {
  const { startVitest } = await import("vitest/node")
  const here = fileURLToPath(import.meta.url)
  const suite = join(here, "..", `${file}${extname(here)}`)
  const conditions = extname(here) === ".ts" ? ["@omnibus/source", "module", "node", "development|production"] : undefined
  process.env["OMNIBUS_CONFORMANCE_RESULTS"] = results
  const vitest = await startVitest("test", [], {
    config: false,
    root: join(here, "..", "..", ".."),
    dir: join(here, ".."),
    include: [suite],
    exclude: [],
    watch: false,
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["dot"],
    ...(testNamePattern ? { testNamePattern } : {}),
  }, conditions ? { resolve: { conditions }, ssr: { resolve: { conditions, externalConditions: ["@omnibus/source", "node"] } } } : {})
  await vitest.close()
}

const readJson = <T>(dir: string, what: string): T => {
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith(".json")) : undefined
  if (file === undefined) throw new Error(`the ${what} wrote no results (vitest could not run it?)`)
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as T
}

/**
 * Runs the suite in vitest (and, with --kill and --start, the fault cases 28,
 * 29 and 34 after it) and returns its results, the cases the CLI skips left out.
 */
export const runConformance = async (settings: CliSettings): Promise<CliRun> => {
  const profile = profileFor(settings.url)
  const skipped = skippedCases(settings)
  const results = mkdtempSync(join(tmpdir(), "omnibus-conformance-"))
  process.env[SETTINGS_VARIABLE] = JSON.stringify(settings)
  try {
    await runSuite("suite", results)
    let run = readJson<RunResults>(results, "conformance suite")
    if (!skipped.has(28)) {
      await runSuite("fault-suite", results, /case (28|29|34): /)
      ;[run] = mergeFaultCases([run], [readJson<FaultRun>(join(results, "faults"), "fault cases")]) as [RunResults]
    }
    const named: RunResults = { ...run, adapter: settings.name ?? profile.name, cases: run.cases.filter((c: CaseResult) => !skipped.has(c.id)) }
    return { run: named, skipped: [...skipped].map(([id, reason]) => ({ id, reason })) }
  } finally {
    rmSync(results, { recursive: true, force: true })
  }
}

export const renderCliRun = (url: string, { run, skipped }: CliRun): string => {
  const count = (s: CaseResult["status"]): number => run.cases.filter((c) => c.status === s).length
  const reasons = new Map(skipped.map((s) => [s.id, s.reason]))
  return [
    `Conformance of ${redact(url)} (${run.adapter}), ${run.runAt}, Node ${run.node}:`,
    `${count("pass")} passed, ${count("fail")} failed, ${count("n/a")} n/a, ${count("unsupported")} unsupported, ${skipped.length} skipped`,
    "",
    ...renderCaseTable([run], (id) => reasons.get(id)),
    ...run.cases.filter((c) => c.status === "fail").map((c) => `\nFailed: case ${c.id} (${c.title}): ${c.reason ?? "no reason recorded"}`),
    "",
  ].join("\n")
}

