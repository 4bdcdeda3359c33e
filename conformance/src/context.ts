/**
 * The case runner: registers one vitest `it` per case, gives the case unique
 * names and tracked buses, closes every bus it opened, and records the outcome.
 */
import { randomBytes } from "node:crypto"
import type { Bus } from "@omnibus/core"
import { crash as coreCrash } from "@omnibus/core/testing"
import { it } from "vitest"
import { caseInfo } from "./cases.ts"
import type { ConformanceHarness, ConnectOptions } from "./harness.ts"
import type { ResultRecorder } from "./results.ts"
import { errorText, eventually, runCase, withTimeout } from "./wait.ts"

export interface Suite {
  readonly harness: ConformanceHarness
  readonly recorder: ResultRecorder
  /** Random per run, so runs sharing a broker never see each other's messages. */
  readonly run: string
  readonly eventuallyMs: number
  readonly backoffToleranceMs: number
  /** Case ids registered as tests (to tell a full run from a filtered one). */
  readonly registered: Set<number>
  /** Every group name a case asked for: handed to harness.cleanup at the end. */
  readonly groups: Set<string>
}

export const makeSuite = (harness: ConformanceHarness, recorder: ResultRecorder): Suite => ({
  harness,
  recorder,
  // lowercase letters and digits: valid in every broker's names
  run: `cf${randomBytes(5).toString("hex")}`,
  eventuallyMs: harness.timing?.eventuallyMs ?? 10_000,
  backoffToleranceMs: harness.timing?.backoffToleranceMs ?? 250,
  registered: new Set(),
  groups: new Set(),
})

export interface CaseContext {
  readonly id: number
  readonly harness: ConformanceHarness
  readonly eventuallyMs: number
  readonly backoffToleranceMs: number
  /** A routing key unique to this run and case: `<run>.c<id>.<words>`. */
  key(...words: ReadonlyArray<string | number>): string
  /** A group name unique to this run and case (no dots: some brokers forbid them in consumer names). */
  group(name?: string): string
  /** A unique word, for patterns that must not start with the case prefix. */
  word(name: string): string
  /** Opens a bus that is closed when the case ends. */
  connect(options?: ConnectOptions): Promise<Bus>
  /** Closes a bus on purpose (the cleanup then leaves it alone). */
  close(bus: Bus): Promise<void>
  /** Simulated crash (harness.crash or core's); the cleanup leaves the bus alone. */
  crash(bus: Bus): Promise<void>
  /** Runs at the end of the case, before buses are closed, last registered first. */
  defer(fn: () => void | Promise<void>): void
  eventually(predicate: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs?: number): Promise<void>
}

export interface CaseOptions {
  /** vitest timeout for this case; default 4 × eventuallyMs + 20 s. */
  readonly timeoutMs?: number
  /** Reported as "n/a" with this reason instead of running. */
  readonly notApplicable?: string
}

export const defineCase = (
  suite: Suite,
  id: number,
  body: (ctx: CaseContext) => Promise<void>,
  options: CaseOptions = {},
): void => {
  const info = caseInfo(id)
  const name = `case ${id}: ${info.title}`
  const base = { id, section: info.section, title: info.title }
  suite.registered.add(id)
  const unsupported = suite.harness.unsupported?.[id]
  if (unsupported !== undefined) {
    // Registered as a (passing) test so the run lists it; the reason goes to the table.
    it(`${name} [unsupported: ${unsupported}]`, () => {
      suite.recorder.record({ ...base, status: "unsupported", reason: unsupported, durationMs: 0 })
    })
    return
  }
  if (options.notApplicable !== undefined) {
    const reason = options.notApplicable
    it(`${name} [n/a: ${reason}]`, () => {
      suite.recorder.record({ ...base, status: "n/a", reason, durationMs: 0 })
    })
    return
  }
  const timeoutMs = options.timeoutMs ?? 4 * suite.eventuallyMs + 20_000
  it(name, { timeout: timeoutMs }, async () => {
    const started = performance.now()
    // Replaced below; stays if vitest abandons the case at its timeout.
    suite.recorder.record({ ...base, status: "fail", reason: `did not finish within the ${timeoutMs} ms test timeout`, durationMs: timeoutMs })
    const opened: Array<Bus> = []
    const done = new Set<Bus>()
    const deferred: Array<() => void | Promise<void>> = []
    const ctx: CaseContext = {
      id,
      harness: suite.harness,
      eventuallyMs: suite.eventuallyMs,
      backoffToleranceMs: suite.backoffToleranceMs,
      key: (...words) => [suite.run, `c${id}`, ...words.map(String)].join("."),
      group: (g = "g") => {
        const name = `${suite.run}-c${id}-${g}`
        suite.groups.add(name)
        return name
      },
      word: (w) => `${suite.run}c${id}${w}`,
      connect: async (connectOptions) => {
        const bus = await suite.harness.connect(connectOptions)
        opened.push(bus)
        return bus
      },
      close: async (bus) => {
        done.add(bus)
        await bus.close()
      },
      crash: async (bus) => {
        done.add(bus)
        await (suite.harness.crash ? suite.harness.crash(bus) : coreCrash(bus))
      },
      defer: (fn) => {
        deferred.push(fn)
      },
      eventually: (predicate, what, timeout) => eventually(predicate, { timeoutMs: timeout ?? suite.eventuallyMs, what }),
    }
    // Cleanup always runs; a hanging close is a finding of its own.
    const ran = await runCase(() => body(ctx), deferred)
    let failure = ran.failure
    const cleanupErrors = ran.cleanupErrors
    await Promise.all(
      opened
        .filter((bus) => !done.has(bus))
        .map(async (bus) => {
          try {
            await withTimeout(bus.close(), suite.eventuallyMs, "bus.close() at the end of the case")
          } catch (e) {
            cleanupErrors.push(errorText(e))
          }
        }),
    )
    const durationMs = Math.round(performance.now() - started)
    if (failure === undefined && cleanupErrors.length > 0) failure = new Error(cleanupErrors.join("; "))
    if (failure !== undefined) {
      suite.recorder.record({ ...base, status: "fail", reason: firstLine(errorText(failure)), durationMs })
      throw failure
    }
    suite.recorder.record({ ...base, status: "pass", durationMs })
  })
}

const firstLine = (text: string): string => {
  const line = text.split("\n")[0] ?? text
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

/** A typed Omnibus error as a Promise caller sees it. */
export interface TaggedFailure {
  readonly _tag: string
  readonly message: string
  readonly [field: string]: unknown
}

const isTagged = (e: unknown): e is TaggedFailure =>
  typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string"

/**
 * Awaits a promise that must reject with a typed error whose `_tag` is one of
 * `tags`; returns the error so the case can check its fields.
 */
export const rejectionOf = async (
  promise: Promise<unknown>,
  tags: ReadonlyArray<string>,
  what: string,
): Promise<TaggedFailure> => {
  let value: unknown
  try {
    value = await promise
  } catch (e) {
    if (!isTagged(e)) throw new Error(`${what}: expected a typed rejection (${tags.join(" | ")}), got an untyped error: ${errorText(e)}`)
    if (!tags.includes(e._tag)) throw new Error(`${what}: expected ${tags.join(" | ")}, got ${e._tag}: ${e.message}`)
    return e
  }
  throw new Error(`${what}: expected a rejection (${tags.join(" | ")}), but it resolved with ${safeJson(value)}`)
}

export const safeJson = (value: unknown): string => {
  try {
    const text = JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 197)}...` : text
  } catch {
    return String(value)
  }
}

/** Does an error message name `key` (raw or JSON-quoted)? */
export const namesKey = (message: string, key: string): boolean =>
  message.includes(JSON.stringify(key)) || (key.length > 0 && message.includes(key))

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
