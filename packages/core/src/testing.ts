/**
 * Helpers for users' own tests, on any adapter: spies that wait for a
 * message by id or predicate with a deadline, outcome counts, and a crash
 * simulation.
 */
import type { Bus, Message } from "./api.ts"
import type { HandlerEvent } from "./consume/events.ts"
import { transportOf } from "./bus.ts"
import { busShapeOf } from "./promise.ts"
import { simulateCrash, type Crashable } from "./transport.ts"

/** Drops the bus's connection at once: nothing is acked or drained (a process crash). */
export const crash = async (bus: Bus): Promise<void> => {
  const shape = busShapeOf(bus)
  const transport = shape && (transportOf(shape) as (ReturnType<typeof transportOf> & Partial<Crashable>) | undefined)
  if (!transport) throw new Error("crash(): not a bus made by connect()")
  if (transport[simulateCrash] === undefined) throw new Error(`crash(): the ${transport.name} adapter offers no crash simulation`)
  await transport[simulateCrash]()
}

export interface Spy<T> {
  /** Pass as the subscription's handler. */
  readonly handler: (message: Message<T>) => Promise<void>
  /** Pass as the subscription's `observe` option to count outcomes. */
  readonly observe: (event: HandlerEvent) => void
  readonly messages: ReadonlyArray<Message<T>>
  readonly counts: { handled: number; retried: number; deadLettered: number; duplicates: number }
  /** Resolves with the first message matching, or rejects after `timeoutMs` (default 10 s). */
  waitFor(match: string | ((m: Message<T>) => boolean), timeoutMs?: number): Promise<Message<T>>
  /** Resolves once `n` messages were handled successfully. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>
}

/** A handler spy; `inner` (optional) does the real work and may throw. */
export const spy = <T = unknown>(inner?: (message: Message<T>) => unknown): Spy<T> => {
  const messages: Array<Message<T>> = []
  const counts = { handled: 0, retried: 0, deadLettered: 0, duplicates: 0 }
  const waiters = new Set<() => void>()
  const notify = () => { for (const w of [...waiters]) w() }
  const until = (ok: () => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (ok()) return resolve()
      const check = () => {
        if (!ok()) return
        clearTimeout(timer)
        waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`spy: timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      waiters.add(check)
    })
  return {
    messages,
    counts,
    handler: async (m) => {
      await inner?.(m)
      messages.push(m)
      notify()
    },
    observe: (e) => {
      if (e.type === "handled") counts.handled++
      else if (e.type === "retry") counts.retried++
      else if (e.type === "dead-letter") counts.deadLettered++
      else if (e.type === "duplicate") counts.duplicates++
      notify()
    },
    async waitFor(match, timeoutMs = 10_000) {
      const pred = typeof match === "string" ? (m: Message<T>) => m.id === match : match
      await until(() => messages.some(pred), timeoutMs, typeof match === "string" ? `message ${match}` : "a matching message")
      return messages.find(pred)!
    },
    waitForCount: (n, timeoutMs = 10_000) => until(() => messages.length >= n, timeoutMs, `${n} messages`),
  }
}
