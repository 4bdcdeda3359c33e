/**
 * The Lua matcher inside the routing script must agree exactly with core's
 * `matches()`: compared on random patterns/keys over a small alphabet (so
 * matches are frequent) plus hand-picked edge cases, all in one pipeline.
 */
import { matches } from "@omnibus/core/adapter"
import fc from "fast-check"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { withScripts } from "../src/scripts.ts"
import { REDIS_URL } from "./helpers.ts"

const client = withScripts(new Redis(REDIS_URL, { protocol: 2 }))
afterAll(() => { client.disconnect() })

interface PipelineWithMatch {
  omnibusMatch(pattern: string, key: string): unknown
  exec(): Promise<Array<[Error | null, unknown]> | null>
}

const luaMatches = async (cases: ReadonlyArray<readonly [string, string]>): Promise<Array<boolean>> => {
  const p = client.pipeline() as unknown as PipelineWithMatch
  for (const [pattern, key] of cases) p.omnibusMatch(pattern, key)
  const res = (await p.exec())!
  return res.map(([e, v]) => {
    if (e) throw e
    return Number(v) === 1
  })
}

const EDGE: ReadonlyArray<readonly [string, string]> = [
  ["#", "a"], ["#", "a.b.c"], ["a.#", "a"], ["a.#", "a.b"], ["#.a", "a"], ["#.a", "b.a"], ["a.#.b", "a.b"],
  ["a.#.b", "a.x.y.b"], ["a.*.b", "a.b"], ["a.*.b", "a.x.b"], ["*", "a"], ["*", "a.b"], ["*.*", "a"], ["#.#", "a"],
  ["#.*", "a"], ["*.#", "a.b.c"], ["#.*.#", "a"], ["a.#.#.b", "a.b"], ["a", "a.a"], ["a.b", "a"], ["é.ü", "é.ü"],
  ["x-1:+@$.*", "x-1:+@$.y"], ["#.b.#", "a.b.c"], ["#.b.#", "a.c"],
]

describe("Lua topic matcher", () => {
  it("agrees with core's matches() on edge cases", async () => {
    const lua = await luaMatches(EDGE)
    expect(lua).toEqual(EDGE.map(([p, k]) => matches(p, k)))
  })

  it("agrees with core's matches() on 20,000 generated cases", async () => {
    const word = fc.constantFrom("a", "b", "c")
    const patternWord = fc.constantFrom("a", "b", "c", "*", "#", "#")
    const cases = fc.sample(
      fc.tuple(fc.array(patternWord, { minLength: 1, maxLength: 6 }), fc.array(word, { minLength: 1, maxLength: 6 })),
      { numRuns: 20_000, seed: 42 },
    ).map(([p, k]) => [p.join("."), k.join(".")] as const)
    const lua = await luaMatches(cases)
    const mismatches = cases.filter(([p, k], i) => lua[i] !== matches(p, k))
    expect(mismatches).toEqual([])
    // the sample exercises both outcomes
    expect(lua.filter(Boolean).length).toBeGreaterThan(1_000)
    expect(lua.filter((x) => !x).length).toBeGreaterThan(1_000)
  })
})
