/** Request routing across an RPC topic's partitions (no broker). */
import { describe, expect, it } from "vitest"
import { PartitionPicker, STALL_MS } from "../src/rpc-routing.ts"

describe("kafka rpc routing", () => {
  it("spreads requests over every partition when all answer", () => {
    const picker = new PartitionPicker(6)
    const seen = Array.from({ length: 12 }, () => {
      const p = picker.pick()
      picker.answered(p)
      return p
    })
    expect(new Set(seen).size).toBe(6)
  })

  it("avoids partitions whose requests go unanswered, also after they timed out, until one of them replies", () => {
    const picker = new PartitionPicker(4)
    const dead = new Set([0, 2])
    // 16 in flight: the dead server's partitions keep theirs
    const inFlight = Array.from({ length: 16 }, () => picker.pick())
    for (const p of inFlight) if (!dead.has(p)) picker.answered(p)
    for (const p of inFlight) if (dead.has(p)) picker.givenUp(p)
    const next = Array.from({ length: 40 }, () => {
      const p = picker.pick()
      picker.answered(p)
      return p
    })
    expect(next.filter((p) => dead.has(p))).toEqual([])
    // a rebalance hands partition 0 to a live server: its late replies bring it back
    picker.served(0)
    const after = Array.from({ length: 12 }, () => {
      const p = picker.pick()
      picker.answered(p)
      return p
    })
    expect(after).toContain(0)
    expect(after).not.toContain(2)
  })

  it("leaves out a partition that answers nothing for STALL_MS while requests wait, before any times out", () => {
    const picker = new PartitionPicker(2, 0)
    expect([picker.pick(0), picker.pick(0)]).toEqual([0, 1])
    picker.answered(0, STALL_MS + 100)
    expect([picker.pick(STALL_MS + 200), picker.pick(STALL_MS + 200)]).toEqual([0, 0])
    picker.answered(1, STALL_MS + 300)
    expect(picker.pick(STALL_MS + 300)).toBe(1)
  })

  it("forgets requests given up long ago", () => {
    const picker = new PartitionPicker(2)
    const p = picker.pick(0)
    picker.givenUp(p, 0)
    expect(picker.pick(1_000)).not.toBe(p)
    expect(picker.pick(120_000)).toBe(p)
  })
})
