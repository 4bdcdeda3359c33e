import { describe, expect, it } from "vitest"
import { untilAborted } from "../src/abortable.ts"

describe("untilAborted", () => {
  it("settles as the call does while the signal stays quiet", async () => {
    const signal = new AbortController().signal
    await expect(untilAborted(Promise.resolve(7), signal, () => new Error("stopped"))).resolves.toBe(7)
    await expect(untilAborted(Promise.reject(new Error("refused")), signal, () => new Error("stopped"))).rejects.toThrow("refused")
  })

  it("leaves a call that never answers as soon as the signal aborts", async () => {
    const stop = new AbortController()
    const waiting = untilAborted(new Promise<never>(() => undefined), stop.signal, () => new Error("stopped"))
    stop.abort()
    await expect(waiting).rejects.toThrow("stopped")
  })

  it("rejects at once on a signal already aborted, and a later failure of the call goes unobserved", async () => {
    const stop = new AbortController()
    stop.abort()
    let fail: (e: Error) => void = () => undefined
    const call = new Promise<number>((_, reject) => { fail = reject })
    await expect(untilAborted(call, stop.signal, () => new Error("stopped"))).rejects.toThrow("stopped")
    fail(new Error("late refusal")) // no unhandled rejection: vitest fails the run on one
    await new Promise((r) => setImmediate(r))
  })
})
