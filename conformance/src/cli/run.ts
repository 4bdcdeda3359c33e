/**
 * The conformance CLI's run (main.ts is the command): the suite in vitest
 * against one URL, and its table (guarantees.ts renderCaseTable).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { extname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CASES } from "../cases.ts"
import { renderCaseTable } from "../guarantees.ts"
import type { CaseResult, RunResults } from "../results.ts"
import { profileFor } from "./profiles.ts"
import { FAULT_SKIP, FOREIGN_SKIP, SETTINGS_VARIABLE, type CliSettings } from "./settings.ts"

/** Cases this CLI never runs, with why. */
export const SKIPPED: ReadonlyMap<number, string> = new Map([
  ...CASES.filter((c) => c.section === "G").map((c): [number, string] => [c.id, FAULT_SKIP]),
  [36, FOREIGN_SKIP],
  [37, FOREIGN_SKIP],
])

export interface CliRun {
  readonly run: RunResults
  readonly skipped: ReadonlyArray<{ readonly id: number; readonly reason: string }>
}

const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, "//***@")

/** Runs the suite in vitest and returns its results, the cases the CLI skips left out of them. */
export const runConformance = async (settings: CliSettings): Promise<CliRun> => {
  const profile = profileFor(settings.url)
  const { startVitest } = await import("vitest/node")
  const results = mkdtempSync(join(tmpdir(), "omnibus-conformance-"))
  const here = fileURLToPath(import.meta.url)
  const suite = join(here, "..", `suite${extname(here)}`)
  // From source (this repository) packages resolve to their src/ (the "@omnibus/source" condition).
  const conditions = extname(here) === ".ts" ? ["@omnibus/source", "module", "node", "development|production"] : undefined
  process.env[SETTINGS_VARIABLE] = JSON.stringify(settings)
  process.env["OMNIBUS_CONFORMANCE_RESULTS"] = results
  try {
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
    }, conditions ? { resolve: { conditions }, ssr: { resolve: { conditions, externalConditions: ["@omnibus/source", "node"] } } } : {})
    await vitest.close()
    const file = readdirSync(results).find((f) => f.endsWith(".json"))
    if (file === undefined) throw new Error(`the suite wrote no results (vitest could not run ${suite}?)`)
    const run = JSON.parse(readFileSync(join(results, file), "utf8")) as RunResults
    const named: RunResults = { ...run, adapter: settings.name ?? profile.name, cases: run.cases.filter((c: CaseResult) => !SKIPPED.has(c.id)) }
    return { run: named, skipped: [...SKIPPED].map(([id, reason]) => ({ id, reason })) }
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

