/**
 * @omnibus/conformance: the one suite every adapter runs (the contract: docs/conformance.md).
 *
 *   describeConformance("memory", { connect: () => connect("memory://"), ... })
 *
 * Registers cases 1–27, 30–33 and 35–37 as vitest tests (28, 29 and 34 belong to the
 * fault suite) and writes conformance/results/<name>.json when they are done.
 */
import { afterAll, beforeAll, describe } from "vitest"
import { detectServer, serverLabel } from "./brokers/server.ts"
import { CASES, SECTIONS } from "./cases.ts"
import { registerDeadLetters } from "./cases/dead-letters.ts"
import { registerDelivery } from "./cases/delivery.ts"
import { registerDurability } from "./cases/durability.ts"
import { registerForeign } from "./cases/foreign.ts"
import { registerOrdering } from "./cases/ordering.ts"
import { registerRetry } from "./cases/retry.ts"
import { registerRpc } from "./cases/rpc.ts"
import { registerTracing } from "./cases/tracing.ts"
import { defineCase, makeSuite } from "./context.ts"
import type { ConformanceHarness } from "./harness.ts"
import { ResultRecorder, writeResults } from "./results.ts"

export type { ChildProcessBus, ConformanceHarness, ConformanceTiming, ConnectOptions, ForeignProducer } from "./harness.ts"
export type { RawMessage } from "./bad-input.ts"
export type { CaseResult, CaseStatus, RunResults } from "./results.ts"
export type { BrokerServer } from "./brokers/server.ts"
export { CASES, SECTIONS, type CaseInfo, type SectionId } from "./cases.ts"
export { Collector, eventually, type EventuallyOptions } from "./wait.ts"
export { Inbox } from "./inbox.ts"
export { PUBLISHED, expectPublishedEvent, foreignEvent, expectDeliveredEvent, type DecodedCloudEvent } from "./cloudevents.ts"

export const describeConformance = (name: string, harness: ConformanceHarness): void => {
  describe(`conformance: ${name}`, () => {
    const recorder = new ResultRecorder(name)
    const suite = makeSuite(harness, recorder)
    beforeAll(async () => {
      if (harness.url === undefined) return
      recorder.server = await detectServer(harness.url)
      console.log(`conformance: ${name} against ${recorder.server ? serverLabel(recorder.server) : "a broker of unknown version"}`)
    })
    afterAll(async () => {
      const file = await writeResults(recorder, suite.registered.size)
      console.log(`conformance results for ${name}: ${file}`)
      await harness.cleanup?.([...suite.groups])
      if ("writeRaw" in harness.foreign) await harness.foreign.close?.()
    })
    describe(`A. ${SECTIONS.A}`, () => registerDelivery(suite))
    describe(`B. ${SECTIONS.B}`, () => registerDurability(suite))
    describe(`C. ${SECTIONS.C}`, () => registerRetry(suite))
    describe(`D. ${SECTIONS.D}`, () => registerDeadLetters(suite))
    describe(`E. ${SECTIONS.E}`, () => registerOrdering(suite))
    describe(`F. ${SECTIONS.F}`, () => registerRpc(suite))
    describe(`H. ${SECTIONS.H}`, () => registerTracing(suite))
    describe("Foreign producers (cases 36, 37)", () => registerForeign(suite))
    // Fault-suite cases run elsewhere; one the adapter declares unsupported is still reported here.
    const declared = CASES.filter((c) => c.section === "G" && harness.unsupported?.[c.id] !== undefined)
    if (declared.length > 0) describe(`G. ${SECTIONS.G}`, () => declared.forEach((c) => defineCase(suite, c.id, async () => undefined)))
  })
}
