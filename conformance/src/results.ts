/**
 * Per-run results: each case records pass / fail / unsupported / n/a with its
 * duration, and the run is written to conformance/results/<adapter>.json, which
 * guarantees.ts turns into docs/guarantees.md.
 */
import { mkdir, rename, writeFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { BrokerServer } from "./brokers/server.ts"
import type { SectionId } from "./cases.ts"

export type CaseStatus = "pass" | "fail" | "unsupported" | "n/a"

export interface CaseResult {
  readonly id: number
  readonly section: SectionId
  readonly title: string
  readonly status: CaseStatus
  readonly reason?: string
  readonly durationMs: number
  /** Figures a suite measured (counts, memory, throughput); optional, ignored by the guarantees table. */
  readonly metrics?: Readonly<Record<string, number | string>>
}

export interface RunResults {
  readonly adapter: string
  readonly runAt: string
  readonly node: string
  /** The broker product and version the run was measured against, when known. */
  readonly server?: BrokerServer
  readonly cases: ReadonlyArray<CaseResult>
}

export class ResultRecorder {
  private readonly results = new Map<number, CaseResult>()
  readonly runAt = new Date().toISOString()

  readonly adapter: string
  /** Set once the suite asked the broker (harness.url). */
  server: BrokerServer | undefined

  constructor(adapter: string) {
    this.adapter = adapter
  }

  record(result: CaseResult): void {
    this.results.set(result.id, result)
  }

  get size(): number {
    return this.results.size
  }

  toJSON(): RunResults {
    return {
      adapter: this.adapter,
      runAt: this.runAt,
      node: process.version,
      ...(this.server ? { server: this.server } : {}),
      cases: [...this.results.values()].sort((a, b) => a.id - b.id),
    }
  }
}

/**
 * Where runs are written: OMNIBUS_CONFORMANCE_RESULTS when set; inside this
 * repository conformance/results/ (docs/guarantees.md is generated from it);
 * for an adapter that installed the suite from the registry, the app's own
 * conformance-results/, never a directory inside node_modules.
 */
const defaultResultsDir = (): string => {
  const configured = process.env["OMNIBUS_CONFORMANCE_RESULTS"]
  if (configured !== undefined && configured.length > 0) return configured.endsWith("/") ? configured : `${configured}/`
  const own = fileURLToPath(new URL("../results/", import.meta.url))
  return own.includes("/node_modules/") ? `${process.cwd()}/conformance-results/` : own
}

export const resultsDir = defaultResultsDir()

/**
 * File-name-safe adapter name, with the broker version when known (rabbitmq@4.0.5.json;
 * runs against several versions keep a file each); a partial run (filtered with -t)
 * goes to <name>.partial.json, which the table ignores.
 */
export const resultsFileName = (adapter: string, partial = false, server?: BrokerServer): string => {
  const version = server ? `@${server.product === "Valkey" ? "valkey-" : ""}${server.version}` : ""
  return `${`${adapter}${version}`.replace(/[^A-Za-z0-9@._-]+/g, "_")}${partial ? ".partial" : ""}.json`
}

/**
 * Writes atomically (tmp + rename) so guarantees.ts never reads half a file.
 * `dir` (default: conformance/results/) lets suites outside the guarantees
 * table (bad input, soak) keep their runs in a subdirectory the table ignores.
 */
export const writeResults = async (recorder: ResultRecorder, registered: number, dir: string = resultsDir): Promise<string> => {
  const run = recorder.toJSON()
  await mkdir(dir, { recursive: true })
  const file = `${dir.endsWith("/") ? dir : `${dir}/`}${resultsFileName(run.adapter, recorder.size < registered, run.server)}`
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(run, null, 2)}\n`)
  await rename(tmp, file)
  return file
}
