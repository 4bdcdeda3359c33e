/**
 * The conformance CLI (src/cli/main.ts) against each machine broker gives the
 * verdicts of the project's own run of the same suite (conformance/results/
 * <adapter>.json, written by the adapters' conformance tests): case by case,
 * for every case the CLI runs; the cases it skips are skipped with a reason.
 *
 *   node --test conformance/test/cli-verdicts.ts   (scripts/test.sh, after the vitest run)
 *
 * Needs OMNIBUS_{RABBITMQ,NATS,REDIS,KAFKA}_URL (scripts/brokers.sh). The CLI runs with
 * packages/testing as its working directory: a project that has the four adapters installed.
 */
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { mkdtempSync, existsSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { test } from "node:test"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { resultsFileName, type CaseResult, type RunResults } from "../src/results.ts"

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const BROKERS = [["rabbitmq", "OMNIBUS_RABBITMQ_URL"], ["nats", "OMNIBUS_NATS_URL"], ["redis", "OMNIBUS_REDIS_URL"], ["kafka", "OMNIBUS_KAFKA_URL"]] as const

interface CliOutput extends RunResults {
  readonly skipped: ReadonlyArray<{ readonly id: number; readonly reason: string }>
}

const verdicts = (cases: ReadonlyArray<CaseResult>): Record<number, string> =>
  Object.fromEntries(cases.map((c) => [c.id, c.status === "fail" ? `fail: ${c.reason ?? ""}` : c.status]))

for (const [name, variable] of BROKERS) {
  test(`${name}: the CLI's verdicts equal the project's own run`, { timeout: 600_000 }, async () => {
    const url = process.env[variable]
    assert.ok(url, `${variable} is not set (source scripts/brokers.sh ${name})`)
    const out = join(mkdtempSync(join(tmpdir(), "omnibus-cli-verdicts-")), `${name}.json`)
    const started = Date.now()
    const { stdout } = await run(process.execPath, [join(ROOT, "conformance/src/cli/main.ts"), "--url", url, "--out", out], {
      cwd: join(ROOT, "packages/testing"),
      maxBuffer: 64 * 1024 * 1024,
    })
    console.log(`${name}: CLI run ${((Date.now() - started) / 1000).toFixed(0)} s; ${stdout.split("\n").find((l) => /^\d+ passed, /.test(l))}`)
    const cli = JSON.parse(readFileSync(out, "utf8")) as CliOutput
    // the project's run of the same broker version (results files are named after it, src/results.ts)
    const ownFile = join(ROOT, "conformance/results", resultsFileName(name, false, cli.server))
    const own = JSON.parse(readFileSync(existsSync(ownFile) ? ownFile : join(ROOT, "conformance/results", `${name}.json`), "utf8")) as RunResults
    const skipped = new Set(cli.skipped.map((s) => s.id))
    assert.ok(cli.skipped.every((s) => s.reason.length > 0), "every skipped case has its reason")
    assert.deepEqual(verdicts(cli.cases), verdicts(own.cases.filter((c) => !skipped.has(c.id))))
  })
}
