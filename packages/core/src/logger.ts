/**
 * The logger Omnibus writes to: any object with pino's shape,
 * `connect(url, { logger: pino() })`. Every line carries what it is about
 * (group, routing key, message id) in its first argument. By default warnings
 * and errors go to Effect's logger, so Effect users see them where they see
 * their own logs, and nothing below warn is printed.
 */
import * as Effect from "effect/Effect"

export type LogFields = Readonly<Record<string, unknown>>

export interface Logger {
  debug(fields: LogFields, message: string): void
  info(fields: LogFields, message: string): void
  warn(fields: LogFields, message: string): void
  error(fields: LogFields, message: string): void
}

const quiet = (): void => undefined

export const effectLogger: Logger = {
  debug: quiet,
  info: quiet,
  warn: (fields, message) => void Effect.runFork(Effect.logWarning(message, fields)),
  error: (fields, message) => void Effect.runFork(Effect.logError(message, fields)),
}

/** A logger's own bug must not take a consumer down with it. */
export const safeLogger = (logger: Logger): Logger => {
  const guard = (level: keyof Logger) => (fields: LogFields, message: string) => {
    try {
      logger[level](fields, message)
    } catch {
      /* a logging failure is not the message's failure */
    }
  }
  return { debug: guard("debug"), info: guard("info"), warn: guard("warn"), error: guard("error") }
}

export const isLogger = (x: unknown): x is Logger =>
  typeof x === "object" && x !== null && ["debug", "info", "warn", "error"].every((k) => typeof (x as Record<string, unknown>)[k] === "function")
