/**
 * The base of Omnibus's tagged errors (errors.ts), without loading Effect.
 * Effect's `Data.TaggedError` would load the Effect runtime with
 * `import "@omnibus/core"` (a third of its import time, bench/FINDINGS.md
 * "Start-up cost"), so the errors are plain `Error`s until the runtime is
 * there: `makeErrorsYieldable` gives their shared prototype Effect's
 * yieldable-error members (an error is then an Effect that fails with itself,
 * as a `Data.TaggedError` is). bus.ts calls it when it loads, and a `yield*`
 * of an error made before that does it on the spot.
 */
import type { YieldableError } from "effect/Cause"
import type * as Data from "effect/Data"
import { lazyModule } from "./lazy.ts"

const loadData = lazyModule<typeof Data>("effect/Data")
const argsKey = Symbol.for("@omnibus/core/errors/args")

/** What every tagged error shares: fields from its constructor argument, JSON of them, the lazy `yield*`. */
class OmnibusError extends Error {
  constructor(args: object) {
    const cause = (args as { readonly cause?: unknown }).cause
    super(undefined, cause === undefined ? undefined : { cause })
    Object.assign(this, args)
    Object.defineProperty(this, argsKey, { value: args, enumerable: false })
  }
  toJSON(): object {
    return { ...(this as unknown as Record<symbol, object>)[argsKey], ...this }
  }
  [Symbol.iterator](): Iterator<unknown> {
    makeErrorsYieldable(loadData().Error)
    const iterate = OmnibusError.prototype[Symbol.iterator]
    if (iterate === lazyIterate) throw new TypeError("effect's Data.Error has no iterator: Omnibus errors cannot be yielded")
    return iterate.call(this)
  }
}

const lazyIterate = OmnibusError.prototype[Symbol.iterator]

/** Copies Effect's yieldable-error members (from `Data.Error`'s parent prototype) onto every Omnibus tagged error. */
export const makeErrorsYieldable = (dataError: typeof Data.Error): void => {
  if (OmnibusError.prototype[Symbol.iterator] !== lazyIterate) return // done already
  const effectProto = Object.getPrototypeOf(dataError.prototype) as object
  for (const key of Reflect.ownKeys(effectProto)) {
    if (key === "constructor" || key === "toJSON") continue
    Object.defineProperty(OmnibusError.prototype, key, Object.getOwnPropertyDescriptor(effectProto, key)!)
  }
}

/** A tagged error class's constructor, typed as Effect's `Data.TaggedError` so that Effect code can yield it. */
type TaggedErrorClass<Tag extends string> = new <A extends Record<string, unknown>>(args: A) => YieldableError & { readonly _tag: Tag } & Readonly<A>

export const TaggedError = <Tag extends string>(tag: Tag): TaggedErrorClass<Tag> => {
  class Tagged extends OmnibusError {
    readonly _tag = tag
  }
  Object.defineProperty(Tagged.prototype, "name", { value: tag, writable: true, configurable: true })
  return Tagged as unknown as TaggedErrorClass<Tag>
}
