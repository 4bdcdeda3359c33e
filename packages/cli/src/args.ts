/**
 * Argument parsing on node:util parseArgs (enough here: long options, repeatable
 * strings, positionals), plus the options every command shares and the
 * conversions commands need (durations, counts, headers).
 */
import { parseArgs, type ParseArgsConfig } from "node:util"
import { UsageError } from "./errors.ts"

type Options = NonNullable<ParseArgsConfig["options"]>

/** Accepted by every command. */
export const COMMON_OPTIONS = {
  url: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options

export const COMMON_HELP = `Common options:
  --url <url>        broker URL (default: $OMNIBUS_URL), e.g. amqp://user:pass@host:5672, nats://host:4222,
                     redis://host:6379, kafka://host:9092, memory://name
  -h, --help         this help
`

/** parseArgs with the common options added; its errors become usage errors (exit code 2). */
export const parse = <O extends Options>(args: ReadonlyArray<string>, options: O) => {
  const config = { args: [...args], options: { ...options, ...COMMON_OPTIONS }, allowPositionals: true, strict: true } as const
  try {
    return parseArgs(config)
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split("\n")[0]! : String(e))
  }
}

/** The broker URL: --url, else $OMNIBUS_URL. */
export const brokerUrl = (url: string | undefined, env: Readonly<Record<string, string | undefined>>): string => {
  const chosen = url ?? env.OMNIBUS_URL
  if (chosen === undefined || chosen === "") throw new UsageError("no broker URL: pass --url or set OMNIBUS_URL")
  return chosen
}

export const positiveInt = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`)
  return n
}

export const positiveNumber = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(value)}`)
  return n
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** "500ms", "10s", "2m", "1h" or plain milliseconds, to milliseconds. */
export const duration = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim())
  if (!m) throw new UsageError(`--${name} must be a duration like 500ms, 10s or 2m, got ${JSON.stringify(value)}`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "ms"]!)
}

/** Repeated `--header k=v` into a record. */
export const headers = (pairs: ReadonlyArray<string> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=")
    if (eq <= 0) throw new UsageError(`--header must be name=value, got ${JSON.stringify(pair)}`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

/** Exactly `count` positionals between `min` and `max`, or a usage error naming what is missing. */
export const expectPositionals = (positionals: ReadonlyArray<string>, min: number, max: number, usage: string): void => {
  if (positionals.length < min) throw new UsageError(`missing arguments: ${usage}`)
  if (positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])}: ${usage}`)
}
