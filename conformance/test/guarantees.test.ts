/**
 * The guarantees table with runs of one adapter against several broker versions:
 * a column each, labelled with the version, and each fault run feeding the
 * conformance column of its own version.
 */
import { describe, expect, it } from "vitest"
import { mergeFaultCases, render, runLabel } from "../src/guarantees.ts"
import type { FaultRun } from "../src/faults/recorder.ts"
import type { RunResults } from "../src/results.ts"
import { resultsFileName } from "../src/results.ts"

const v3 = { product: "RabbitMQ", version: "3.10.8", source: "server" } as const
const v4 = { product: "RabbitMQ", version: "4.0.5", source: "server" } as const
const conformance = (server: typeof v3 | typeof v4, status: "pass" | "fail"): RunResults => ({
  adapter: "rabbitmq", runAt: "t", node: "v22", server,
  cases: [{ id: 1, section: "A", title: "round trip", status, durationMs: 1 }],
})
const faults = (server: typeof v3 | typeof v4, status: "pass" | "fail"): FaultRun => ({
  adapter: "rabbitmq", runAt: "t", node: "v22", server,
  faults: [{ id: "28", title: "kill", status, durationMs: 1 }],
})

describe("guarantees per broker version", () => {
  it("labels a run with its broker version and names its file after it", () => {
    expect(runLabel(conformance(v4, "pass"))).toBe("rabbitmq · RabbitMQ 4.0.5")
    expect(runLabel({ adapter: "kafka", server: { product: "Apache Kafka", version: "4.4.0", source: "launch" } })).toBe("kafka · Apache Kafka 4.4.0 (as launched)")
    expect(resultsFileName("rabbitmq-quorum", false, v4)).toBe("rabbitmq-quorum@4.0.5.json")
    expect(resultsFileName("redis", true, { product: "Valkey", version: "8.1.1", source: "server" })).toBe("redis@valkey-8.1.1.partial.json")
    expect(resultsFileName("memory")).toBe("memory.json")
  })

  it("merges each fault run into the conformance run of the same version only", () => {
    const merged = mergeFaultCases([conformance(v3, "pass"), conformance(v4, "pass")], [faults(v3, "pass"), faults(v4, "fail")])
    const case28 = merged.map((r) => r.cases.find((c) => c.id === 28)?.status)
    expect(case28).toEqual(["pass", "fail"])
  })

  it("renders a column per version", () => {
    const md = render([conformance(v4, "fail"), conformance(v3, "pass")])
    expect(md).toContain("| Case | rabbitmq · RabbitMQ 4.0.5 | rabbitmq · RabbitMQ 3.10.8 |")
    expect(md).toContain("- rabbitmq · RabbitMQ 4.0.5, case 1 (round trip)")
  })
})
