import { describe, expect, it } from "vitest"
import { MemoryIdempotencyStore } from "../src/idempotency.ts"

describe("MemoryIdempotencyStore", () => {
  it("claims once; a second claim sees in-progress, then done", async () => {
    const s = new MemoryIdempotencyStore()
    expect(await s.claim("a", 1000)).toBe("acquired")
    expect(await s.claim("a", 1000)).toBe("in-progress")
    await s.complete("a", 1000)
    expect(await s.claim("a", 1000)).toBe("done")
  })

  it("a released claim can be taken again (a failed handler may retry)", async () => {
    const s = new MemoryIdempotencyStore()
    await s.claim("a", 1000)
    await s.release("a")
    expect(await s.claim("a", 1000)).toBe("acquired")
  })

  it("an expired lease lets another consumer take over; done marks expire after their TTL", async () => {
    let now = 0
    const s = new MemoryIdempotencyStore({ now: () => now })
    await s.claim("a", 100)
    now = 101
    expect(await s.claim("a", 100)).toBe("acquired")
    await s.complete("a", 50)
    now = 140
    expect(await s.claim("a", 100)).toBe("done")
    now = 152
    expect(await s.claim("a", 100)).toBe("acquired")
  })

  it("stays within its bound, evicting the oldest entries first", async () => {
    const s = new MemoryIdempotencyStore({ maxEntries: 100 })
    for (let i = 0; i < 1000; i++) await s.complete(`k${i}`, 60_000)
    expect(s.size).toBe(100)
    expect(await s.claim("k999", 10)).toBe("done")
    expect(await s.claim("k0", 10)).toBe("acquired")
  })
})
