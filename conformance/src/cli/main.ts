#!/usr/bin/env node
/**
 * `npx @omnibus/conformance --url <broker URL>`: runs conformance sections A–F
 * and H (describeConformance, in vitest) against a broker you point it at and
 * prints the guarantees table for that one run (guarantees.ts renderCaseTable).
 * Cases it cannot run there are listed as skipped with the reason: the fault
 * suite's (28, 29, 34: they kill the broker), unless --kill and --start give
 * the commands that do it, and the foreign-producer cases (36, 37: they need
 * the broker's own client). Exit code 1 when a case fails.
 */
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { runConformance, renderCliRun, type CliRun } from "./run.ts"
import type { CliSettings } from "./settings.ts"

const HELP = `Usage: omnibus-conformance --url <broker URL> [--name <label>] [--out <file>]
                           [--kill <command> --start <command>]

Runs the Omnibus conformance suite, sections A-F and H, against the broker at --url
(amqp://, nats://, redis://, kafka://; the adapter package must be installed next to
this one) and prints which cases pass, as the guarantees table for this one run.
Every case uses names unique to the run, so a shared broker is fine.

  --url    the broker (credentials in the URL are not printed)
  --name   the column's label (default: the adapter's name)
  --out    also write the run as JSON (the shape of conformance/results/<adapter>.json,
           plus the skipped cases and their reasons) to this file
  --kill   a shell command that kills the broker at once (e.g. "systemctl kill -s KILL
           rabbitmq-server", "docker kill my-rabbit"); with --start, cases 28, 29 and 34
           run too: they kill the broker mid-stream and start it again (its port must
           refuse connections after --kill and accept them after --start)
  --start  a shell command that starts it again with its data

Skipped, with the reason: cases 28, 29 and 34 without --kill and --start, and 36, 37
(they need a producer on the broker's own client).
Exit code: 0 all run cases pass, 1 a case failed, 2 usage or setup error.`

const main = async (): Promise<number> => {
  let values: { url?: string; name?: string; out?: string; kill?: string; start?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({ options: { url: { type: "string" }, name: { type: "string" }, out: { type: "string" }, kill: { type: "string" }, start: { type: "string" }, help: { type: "boolean", short: "h" } } }))
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : String(e)}\n\n${HELP}`)
    return 2
  }
  if (values.help) {
    console.log(HELP)
    return 0
  }
  if (values.url === undefined) {
    console.error(`--url is required\n\n${HELP}`)
    return 2
  }
  if ((values.kill === undefined) !== (values.start === undefined)) {
    console.error(`--kill and --start go together\n\n${HELP}`)
    return 2
  }
  const settings: CliSettings = {
    url: values.url,
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values.kill !== undefined && values.start !== undefined ? { kill: values.kill, start: values.start } : {}),
  }
  let result: CliRun
  try {
    result = await runConformance(settings)
  } catch (e) {
    console.error(`omnibus-conformance: ${e instanceof Error ? e.message : String(e)}`)
    return 2
  }
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify({ ...result.run, skipped: result.skipped }, null, 2)}\n`)
  console.log(renderCliRun(values.url, result))
  return result.run.cases.some((c) => c.status === "fail") ? 1 : 0
}

process.exitCode = await main()
