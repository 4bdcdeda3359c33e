import { Schedule } from "effect"
import { describe, expect, it } from "vitest"
import { retryPolicy } from "../src/retry.ts"

describe("retry policy (effect Schedule)", () => {
  it("exponential without jitter: initial × factor^(n-1), capped, ends after the attempts", () => {
    const p = retryPolicy({ attempts: 6, backoff: { initial: "100 millis", factor: 2, max: "500 millis", jitter: false } })
    expect([1, 2, 3, 4, 5].map((n) => p.delayAfter(n))).toEqual([100, 200, 400, 500, 500])
    expect(p.delayAfter(6)).toBeUndefined()
  })

  it("jitter stays within ×0.8–1.2 of the base delay", () => {
    const p = retryPolicy({ attempts: 10, backoff: { initial: 1000, factor: 1, jitter: true } })
    const seen = Array.from({ length: 500 }, () => p.delayAfter(1)!)
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(800)
    expect(Math.max(...seen)).toBeLessThanOrEqual(1200)
    expect(new Set(seen.map(Math.round)).size).toBeGreaterThan(10)
  })

  it("false means one attempt, no retry", () => {
    expect(retryPolicy(false).delayAfter(1)).toBeUndefined()
  })

  it("accepts any effect Schedule; its end means dead-letter", () => {
    const p = retryPolicy({ attempts: 10, backoff: Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 2 })) })
    expect(p.delayAfter(1)).toBe(50)
    expect(p.delayAfter(2)).toBe(50)
    expect(p.delayAfter(3)).toBeUndefined()
  })

  it("rejects bad options with a typed error naming the option", () => {
    expect(() => retryPolicy({ attempts: 0 })).toThrow(expect.objectContaining({ _tag: "InvalidOptions", option: "retry.attempts" }))
    expect(() => retryPolicy({ backoff: { initial: "soon" as never } })).toThrow(expect.objectContaining({ _tag: "InvalidOptions", option: "retry.backoff.initial" }))
    expect(() => retryPolicy({ backoff: { factor: 0.5 } })).toThrow(expect.objectContaining({ option: "retry.backoff.factor" }))
    expect(() => retryPolicy({ maxRedeliveries: -1 })).toThrow(expect.objectContaining({ _tag: "InvalidOptions", option: "retry.maxRedeliveries" }))
    expect(() => retryPolicy({ maxRedeliveries: 1.5 })).toThrow(expect.objectContaining({ option: "retry.maxRedeliveries" }))
  })

  it("keeps a redelivery budget apart from attempts (default 5, also with retry: false)", () => {
    expect(retryPolicy(undefined).maxRedeliveries).toBe(5)
    expect(retryPolicy(false).maxRedeliveries).toBe(5)
    expect(retryPolicy({ attempts: 2, maxRedeliveries: 0 })).toMatchObject({ attempts: 2, maxRedeliveries: 0 })
  })
})
