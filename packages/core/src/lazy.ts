/**
 * The effect modules that only a running bus needs, loaded on first use so that
 * importing `@omnibus/core` or an adapter does not load the Effect runtime
 * (bench/FINDINGS.md, "Footprint"). Synchronously, because their callers are
 * (retry.ts, duration.ts, codec.ts's `schema()`): require() of an ES module
 * (Node >= 22.12) returns the same instance a user's `import` does. bus.ts
 * imports the runtime's modules anyway and hands them over (`provideRuntime`),
 * so nothing on a bus's path takes require(), which a bundle cannot follow.
 */
import { createRequire } from "node:module"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"

/** A module required on the first call. */
export const lazyModule = <M>(specifier: string): (() => M) => {
  let module: M | undefined
  return () => (module ??= createRequire(import.meta.url)(specifier) as M)
}

export interface Runtime {
  readonly Duration: typeof Duration
  readonly Effect: typeof Effect
  readonly Exit: typeof Exit
  readonly Option: typeof Option
  readonly Schedule: typeof Schedule
}

let provided: Runtime | undefined

/** What bus.ts imported (the same instances require() would return). */
export const provideRuntime = (r: Runtime): void => {
  provided ??= r
}

/** The runtime's modules: bus.ts's, or required on a call made before any bus (tests, an adapter's own use). */
export const runtime = (): Runtime => (provided ??= requireRuntime())

const requireRuntime = (): Runtime => {
  const require = createRequire(import.meta.url)
  return {
    Duration: require("effect/Duration") as typeof Duration,
    Effect: require("effect/Effect") as typeof Effect,
    Exit: require("effect/Exit") as typeof Exit,
    Option: require("effect/Option") as typeof Option,
    Schedule: require("effect/Schedule") as typeof Schedule,
  }
}
