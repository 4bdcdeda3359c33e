import type * as Duration from "effect/Duration"
import { InvalidOptions } from "./errors.ts"
import { runtime } from "./lazy.ts"

/** Parses "200 millis", "2 seconds", 150 (ms) ... into milliseconds, or throws InvalidOptions naming the option. */
export const toMillis = (option: string, input: Duration.Input): number => {
  const { Duration, Option } = runtime()
  const d = Duration.fromInput(input)
  if (Option.isNone(d)) throw new InvalidOptions({ option, reason: `${JSON.stringify(input)} is not a duration (e.g. "200 millis", "2 seconds" or a number of ms)` })
  const ms = Duration.toMillis(d.value)
  if (!(ms >= 0)) throw new InvalidOptions({ option, reason: "must not be negative" })
  return ms
}
