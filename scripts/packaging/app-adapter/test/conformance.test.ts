import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import { residue } from "@omnibus/memory"
import { afterAll, expect } from "vitest"
import { calls } from "../src/index.ts"

const broker = `counting-${process.pid}`

describeConformance("counting-memory", {
  connect: (options) => connect(`counting://${broker}`, { ...options }),
  residue: async (group) => residue(broker, group),
  leaseMs: 300,
  publishDedup: true,
  foreign: { reason: "an in-process broker: no client outside Omnibus can write to it" },
  childProcess: { reason: "an in-process broker: another process cannot reach it" },
})

afterAll(() => {
  // The suite went through this adapter, not straight to memory://.
  expect(calls.get("publish") ?? 0).toBeGreaterThan(0)
  expect(calls.get("consume") ?? 0).toBeGreaterThan(0)
  expect(calls.get("request") ?? 0).toBeGreaterThan(0)
})
