/**
 * Exit codes and the one-line error report. 0: done; 1: the operation failed
 * (a request timed out, the bus is unhealthy); 2: the command could not run
 * (bad usage, bad URL, unreachable broker, refused credentials).
 */
import { redactUrl } from "@omnibus/core/adapter"

/** The command did what was asked. */
export const EXIT_OK = 0
/** The operation failed: a request timed out, the bus is unhealthy, a dead letter was not found. */
export const EXIT_FAILED = 1
/** The command could not run: bad usage, bad URL, unreachable broker, refused credentials. */
export const EXIT_USAGE = 2

/** Wrong arguments or options: reported with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}

/** Errors that mean "the command could not start" rather than "the operation failed". */
const SETUP_ERRORS = new Set(["UsageError", "InvalidUrl", "ConnectionFailed", "AuthenticationFailed", "InvalidOptions", "InvalidPattern", "InvalidRoutingKey"])

const nameOf = (e: unknown): string => {
  if (typeof e === "object" && e !== null) {
    const tag = (e as { readonly _tag?: unknown })._tag
    if (typeof tag === "string") return tag
    if (e instanceof Error) return e.name
  }
  return "Error"
}

/** Any URL with credentials in a message loses them (errors from broker clients may quote the URL). */
const scrub = (text: string): string => text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (url) => redactUrl(url))

export const exitCodeOf = (e: unknown): number => (SETUP_ERRORS.has(nameOf(e)) ? EXIT_USAGE : EXIT_FAILED)

/** `omnibus: <Name>: <message>` on one line, no stack, no password. */
export const errorLine = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e)
  return `omnibus: ${nameOf(e)}: ${scrub(message).replace(/\s*\n\s*/g, " ")}\n`
}
