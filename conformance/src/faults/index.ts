/**
 * The fault suite (section G of docs/conformance.md plus named connection faults), run
 * against a private broker the suite starts, kills, restarts and proxies:
 *
 *   describeFaults("redis", { launch: launchRedis, connect: (url, o) => connect(url, o), ... })
 *
 * Writes conformance/results/faults/<name>.json (numbers per fault), which
 * guarantees.ts turns into the "what survives what" table, and feeds cases
 * 28, 29 and 34 into the conformance table.
 */
import { afterAll, beforeAll, describe, it } from "vitest"
import { detectServer, serverLabel } from "../brokers/server.ts"
import { FAULTS } from "../cases.ts"
import { registerFaults } from "./cases.ts"
import { makeFaultSuite } from "./context.ts"
import type { FaultHarness, NoBrokerHarness } from "./harness.ts"
import { registerModelCheck } from "./model.ts"
import { registerPoison } from "./poison.ts"
import { FaultRecorder, writeFaultResults } from "./recorder.ts"
import { registerRpcStorm } from "./rpc-storm.ts"

export type { FaultHarness, NoBrokerHarness } from "./harness.ts"
export type { Credentials, LaunchOptions, Launcher, TlsMaterial } from "../brokers/common.ts"
export type { BrokerServer } from "../brokers/server.ts"
export type { FaultId } from "../cases.ts"
export type { FaultMetrics, FaultResult, FaultRun } from "./recorder.ts"

const isNoBroker = (h: FaultHarness | NoBrokerHarness): h is NoBrokerHarness => typeof (h as NoBrokerHarness).notApplicable === "string"

export const describeFaults = (name: string, harness: FaultHarness | NoBrokerHarness): void => {
  describe(`faults: ${name}`, () => {
    const recorder = new FaultRecorder(name)
    if (isNoBroker(harness)) {
      afterAll(async () => {
        console.log(`fault results for ${name}: ${await writeFaultResults(recorder, FAULTS.length)}`)
      })
      for (const f of FAULTS) {
        it(`${f.id}: ${f.title} [n/a: ${harness.notApplicable}]`, () => {
          recorder.record({ id: f.id, title: f.title, status: "n/a", reason: harness.notApplicable, durationMs: 0 })
        })
      }
      return
    }
    const suite = makeFaultSuite(name, harness, recorder)
    beforeAll(async () => {
      suite.broker = await harness.launch()
      recorder.server = await detectServer(suite.broker.url, suite.broker.tls ? { ca: suite.broker.tls.ca } : undefined)
      console.log(`faults: ${name} against ${recorder.server ? serverLabel(recorder.server) : "a broker of unknown version"}`)
    }, 120_000)
    afterAll(async () => {
      const file = await writeFaultResults(recorder, suite.registered.size)
      console.log(`fault results for ${name}: ${file}`)
      for (const l of [suite.broker, ...suite.launchers]) await l?.stop().catch(() => undefined)
    }, 120_000)
    registerFaults(suite)
    registerRpcStorm(suite)
    registerPoison(suite)
    registerModelCheck(suite)
  })
}
