/**
 * The conformance CLI (src/cli/main.ts) against each machine broker gives the
 * verdicts of the project's own run of the same suite (conformance/results/
 * <adapter>.json, written by the adapters' conformance tests): case by case,
 * for every case the CLI runs; the cases it skips are skipped with a reason.
 *
 *   node --test conformance/test/cli-verdicts.ts   (scripts/test.sh, after the vitest run)
 *
 * With --kill and --start (a private redis-server the commands kill and start),
 * cases 28, 29 and 34 run too and give the fault suite's verdicts.
 *
 * Needs OMNIBUS_{RABBITMQ,NATS,REDIS,KAFKA}_URL (scripts/brokers.sh). The CLI runs with
 * packages/testing as its working directory: a project that has the four adapters installed.
 */
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { mkdtempSync, existsSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { test } from "node:test"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { freePort } from "../src/brokers/common.ts"
import type { FaultRun } from "../src/faults/recorder.ts"
import { mergeFaultCases } from "../src/guarantees.ts"
import { resultsFileName, type CaseResult, type RunResults } from "../src/results.ts"

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const BROKERS = [["rabbitmq", "OMNIBUS_RABBITMQ_URL"], ["nats", "OMNIBUS_NATS_URL"], ["redis", "OMNIBUS_REDIS_URL"], ["kafka", "OMNIBUS_KAFKA_URL"]] as const

interface CliOutput extends RunResults {
  readonly skipped: ReadonlyArray<{ readonly id: number; readonly reason: string }>
}

const verdicts = (cases: ReadonlyArray<CaseResult>): Record<number, string> =>
  Object.fromEntries(cases.map((c) => [c.id, c.status === "fail" ? `fail: ${c.reason ?? ""}` : c.status]))

const runCli = async (args: ReadonlyArray<string>, out: string): Promise<CliOutput> => {
  const started = Date.now()
  const { stdout } = await run(process.execPath, [join(ROOT, "conformance/src/cli/main.ts"), ...args, "--out", out], {
    cwd: join(ROOT, "packages/testing"),
    maxBuffer: 64 * 1024 * 1024,
  })
  console.log(`${args.join(" ")}: CLI run ${((Date.now() - started) / 1000).toFixed(0)} s; ${stdout.split("\n").find((l) => /^\d+ passed, /.test(l))}`)
  return JSON.parse(readFileSync(out, "utf8")) as CliOutput
}

for (const [name, variable] of BROKERS) {
  test(`${name}: the CLI's verdicts equal the project's own run`, { timeout: 600_000 }, async () => {
    const url = process.env[variable]
    assert.ok(url, `${variable} is not set (source scripts/brokers.sh ${name})`)
    const cli = await runCli(["--url", url], join(mkdtempSync(join(tmpdir(), "omnibus-cli-verdicts-")), `${name}.json`))
    // the project's run of the same broker version (results files are named after it, src/results.ts)
    const ownFile = join(ROOT, "conformance/results", resultsFileName(name, false, cli.server))
    const own = JSON.parse(readFileSync(existsSync(ownFile) ? ownFile : join(ROOT, "conformance/results", `${name}.json`), "utf8")) as RunResults
    const skipped = new Set(cli.skipped.map((s) => s.id))
    assert.ok(cli.skipped.every((s) => s.reason.length > 0), "every skipped case has its reason")
    assert.deepEqual(verdicts(cli.cases), verdicts(own.cases.filter((c) => !skipped.has(c.id))))
  })
}

test("redis with --kill and --start: cases 28, 29 and 34 run against the user's broker and give the fault suite's verdicts", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "omnibus-cli-kill-"))
  const port = await freePort()
  const server = process.env.OMNIBUS_REDIS_SERVER ?? "redis-server"
  const start = `${server} --bind 127.0.0.1 --port ${port} --dir ${dir} --appendonly yes --appendfsync always --save '' --daemonize yes --pidfile ${dir}/pid --logfile ${dir}/log`
  const kill = `kill -9 "$(cat ${dir}/pid)"`
  await run("sh", ["-c", start])
  try {
    const cli = await runCli(["--url", `redis://127.0.0.1:${port}`, "--kill", kill, "--start", start], join(dir, "out.json"))
    assert.deepEqual(cli.skipped.map((s) => s.id), [36, 37])
    // the project's fault suite on the same Redis version (conformance/results/faults/)
    const own = JSON.parse(readFileSync(join(ROOT, "conformance/results/faults", resultsFileName("redis", false, cli.server)), "utf8")) as FaultRun
    const [faultCases] = mergeFaultCases([], [own])
    const ids = new Set([28, 29, 34])
    assert.deepEqual(verdicts(cli.cases.filter((c) => ids.has(c.id))), verdicts(faultCases!.cases.filter((c) => ids.has(c.id))))
    assert.deepEqual(Object.values(verdicts(cli.cases.filter((c) => ids.has(c.id)))), ["pass", "pass", "pass"])
  } finally {
    await run("sh", ["-c", `${kill} 2>/dev/null || true`])
    rmSync(dir, { recursive: true, force: true })
  }
})
