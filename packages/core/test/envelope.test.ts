import { validate, version } from "uuid"
import { afterEach, describe, expect, it, vi } from "vitest"
import { newMessageId } from "../src/envelope.ts"

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The 48-bit Unix milliseconds at the start of a v7 id. */
const msOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

describe("newMessageId", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it("is a valid, unique, strictly increasing UUID v7 carrying the current time", () => {
    const before = Date.now()
    const ids = Array.from({ length: 200_000 }, () => newMessageId())
    const after = Date.now()
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      if (!V7.test(id)) expect(id).toMatch(V7)
      if (i > 0 && !(ids[i - 1]! < id)) expect(`${ids[i - 1]} < ${id}`).toBe("increasing")
    }
    expect(validate(ids[0]!)).toBe(true)
    expect(version(ids[0]!)).toBe(7)
    expect(msOf(ids[0]!)).toBeGreaterThanOrEqual(before)
    // a counter that wrapped within a millisecond may run a few milliseconds ahead of the clock
    expect(msOf(ids.at(-1)!)).toBeLessThanOrEqual(after + 5)
  })

  it("stays increasing while the clock stands still or steps back", () => {
    const base = Date.now() + 60_000
    const now = vi.spyOn(Date, "now").mockReturnValue(base)
    const ids: Array<string> = []
    for (let i = 0; i < 10_000; i++) ids.push(newMessageId())
    now.mockReturnValue(base - 5_000)
    for (let i = 0; i < 10_000; i++) ids.push(newMessageId())
    now.mockReturnValue(base + 1)
    ids.push(newMessageId())
    for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) expect(`${ids[i - 1]} < ${ids[i]}`).toBe("increasing")
    expect(msOf(ids[0]!)).toBe(base)
    expect(msOf(ids.at(-1)!)).toBeGreaterThanOrEqual(base + 1)
    for (const id of ids) if (!V7.test(id)) expect(id).toMatch(V7)
  })

  it("differs in its random bits between ids of one millisecond", () => {
    vi.spyOn(Date, "now").mockReturnValue(Date.now() + 120_000)
    const tails = new Set(Array.from({ length: 1_000 }, () => newMessageId().slice(-10)))
    expect(tails.size).toBeGreaterThan(990)
  })
})
