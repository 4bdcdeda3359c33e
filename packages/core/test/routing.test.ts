import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { matches, overlapWitness, patternCovers, patternProblem, patternsOverlap, routingKeyProblem, validatePattern, validateRoutingKey } from "../src/routing.ts"

/** Brute force: expand each "#" into 0..k words and each "*" into one word, then compare word lists. */
const bruteForce = (pattern: string, key: string): boolean => {
  const p = pattern.split(".")
  const k = key.split(".")
  const go = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length
    const w = p[i]!
    if (w === "#") {
      for (let take = 0; j + take <= k.length; take++) if (go(i + 1, j + take)) return true
      return false
    }
    if (j === k.length) return false
    return (w === "*" || w === k[j]) && go(i + 1, j + 1)
  }
  return go(0, 0)
}

const word = fc.constantFrom("a", "b", "c", "employee", "created")
const keyArb = fc.array(word, { minLength: 1, maxLength: 6 }).map((ws) => ws.join("."))
const patternArb = fc.array(fc.oneof(word, fc.constant("*"), fc.constant("#")), { minLength: 1, maxLength: 6 }).map((ws) => ws.join("."))

describe("matches (AMQP topic semantics)", () => {
  it("agrees with a brute-force matcher on random patterns and keys", () => {
    fc.assert(fc.property(patternArb, keyArb, (p, k) => matches(p, k) === bruteForce(p, k)), { numRuns: 20_000 })
  })

  it.each([
    ["employee.created", "employee.created", true],
    ["employee.*", "employee.created", true],
    ["employee.*", "employee", false],
    ["employee.*", "employee.created.v2", false],
    ["*.created", "employee.created", true],
    ["#", "a.b.c", true],
    ["#", "a", true],
    ["employee.#", "employee", true],
    ["employee.#", "employee.a.b", true],
    ["#.created", "created", true],
    ["#.created", "x.y.created", true],
    ["a.#.z", "a.z", true],
    ["a.#.z", "a.b.c.z", true],
    ["a.#.z", "a.b.c", false],
    ["a.*.#", "a", false],
    ["#.#", "a", true],
  ])("%s ~ %s = %s", (p, k, want) => {
    expect(matches(p, k)).toBe(want)
    expect(bruteForce(p, k)).toBe(want)
  })
})

describe("pattern overlap and cover (which topics or subjects a subscription reads)", () => {
  it("a witness matches both patterns, and two patterns a key matches both of always have one", () => {
    fc.assert(
      fc.property(patternArb, patternArb, keyArb, (a, b, k) => {
        const w = overlapWitness(a, b)
        if (w !== undefined) return matches(a, w) && matches(b, w) && routingKeyProblem(w) === undefined
        return !(matches(a, k) && matches(b, k))
      }),
      { numRuns: 20_000 },
    )
  })

  it("a pattern that covers another matches every key the other matches", () => {
    fc.assert(fc.property(patternArb, patternArb, keyArb, (outer, inner, k) => !patternCovers(outer, inner) || !matches(inner, k) || matches(outer, k)), { numRuns: 20_000 })
  })

  it("every pattern covers itself", () => {
    fc.assert(fc.property(patternArb, (p) => patternCovers(p, p)), { numRuns: 2_000 })
  })

  it.each([
    ["orders.#", "orders.placed", true, true],
    ["orders.#", "orders.*.eu", true, true],
    ["orders.*", "orders.#", true, false],
    ["#", "*.created", true, true],
    ["*.created", "employee.*", true, false],
    ["orders.#", "payments.#", false, false],
    ["a.*", "a", false, false],
    ["a.#", "a", true, true],
    ["#", "#", true, true],
  ])("%s and %s: overlap %s, first covers second %s", (a, b, overlap, covers) => {
    expect(patternsOverlap(a, b)).toBe(overlap)
    expect(patternsOverlap(b, a)).toBe(overlap)
    expect(patternCovers(a, b)).toBe(covers)
  })
})

describe("validation (contract case 3, docs/conformance.md)", () => {
  it.each([
    ["", "is empty"],
    ["a..b", "empty word"],
    [".a", "empty word"],
    ["a.", "empty word"],
    ["a b", "whitespace"],
    ["a.*", "wildcard"],
    ["a.#", "wildcard"],
    ["x".repeat(256), "longer than 255"],
    ["a/b", "characters outside"],
  ])("rejects publish key %j (%s)", (key, reason) => {
    expect(routingKeyProblem(key)).toContain(reason)
    const err = validateRoutingKey(key)
    expect(err?._tag).toBe("InvalidRoutingKey")
    expect(err?.message).toContain(JSON.stringify(key))
  })

  it.each([
    ["*x", "whole word"],
    ["a.b#", "whole word"],
    ["a..*", "empty word"],
    ["", "is empty"],
    [" a", "whitespace"],
  ])("rejects pattern %j (%s)", (pattern, reason) => {
    expect(patternProblem(pattern)).toContain(reason)
    expect(validatePattern(pattern)?._tag).toBe("InvalidPattern")
  })

  it("accepts keys and patterns of any valid shape", () => {
    fc.assert(fc.property(keyArb, (k) => routingKeyProblem(k) === undefined))
    fc.assert(fc.property(patternArb, (p) => patternProblem(p) === undefined))
    expect(routingKeyProblem("x".repeat(255))).toBeUndefined()
    expect(routingKeyProblem("émployé.créé")).toBeUndefined()
  })
})
