/**
 * Section C: retry and backoff (cases 13–16).
 */
import type { Message } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase } from "../context.ts"
import type { Suite } from "../context.ts"
import { Collector, deferred, mapWindowed } from "../wait.ts"

export const registerRetry = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 13
  defineCase(suite, 13, async (ctx) => {
    const bus = await ctx.connect()
    const group = ctx.group()
    const attempts = new Map<string, Array<number>>()
    const succeeded = new Set<string>()
    const sentinels = new Collector()
    await bus.subscribe(
      ctx.key("#"),
      (m: Message<unknown>) => {
        if ((m.payload as { sentinel?: boolean } | null)?.sentinel === true) return sentinels.record(m)
        const seen = attempts.get(m.id) ?? []
        seen.push(m.attempt)
        attempts.set(m.id, seen)
        if (m.attempt <= 2) throw new Error(`transient failure on attempt ${m.attempt}`)
        succeeded.add(m.id)
      },
      { group, concurrency: 4, retry: { attempts: 5, backoff: { initial: 20, factor: 1, jitter: false } } },
    )
    const pub = await ctx.connect()
    const ids = (await mapWindowed(10, 10, (i) => pub.publish(ctx.key("r"), { i }))).map((r) => r.id)
    await ctx.eventually(() => ids.every((id) => succeeded.has(id)), () => `10 messages succeeded on their 3rd attempt (${succeeded.size})`)
    // Acked after success: a redelivery would have been queued before this sentinel.
    const { id: sentinel } = await pub.publish(ctx.key("sentinel"), { sentinel: true })
    await sentinels.waitForIds([sentinel], ctx.eventuallyMs, "sentinel")
    for (const id of ids) expect(attempts.get(id), `attempt numbers seen by the handler for ${id}`).toEqual([1, 2, 3])
  })

  // ---------------------------------------------------------------- case 14
  defineCase(suite, 14, async (ctx) => {
    const bus = await ctx.connect()
    const tol = ctx.backoffToleranceMs
    // Timer granularity: a timer may fire up to a few ms early relative to performance.now().
    const granularity = 5
    const run = async (name: string, jitter: boolean, attemptCount: number): Promise<Map<string, Array<number>>> => {
      const times = new Map<string, Array<number>>()
      await bus.subscribe(
        ctx.key(name, "#"),
        (m) => {
          const t = times.get(m.id) ?? []
          t.push(performance.now())
          times.set(m.id, t)
          throw new Error("always fails")
        },
        {
          group: ctx.group(name),
          concurrency: 4,
          retry: { attempts: attemptCount, backoff: { initial: 100, factor: 2, max: "10 seconds", jitter } },
        },
      )
      const ids = (await mapWindowed(3, 3, (i) => bus.publish(ctx.key(name, "m"), { i }))).map((r) => r.id)
      await ctx.eventually(
        () => ids.every((id) => (times.get(id)?.length ?? 0) >= attemptCount),
        () => `${name}: ${attemptCount} attempts of each message (${ids.map((id) => times.get(id)?.length ?? 0).join("/")})`,
      )
      return times
    }
    const [fixed, jittered] = await Promise.all([run("fixed", false, 3), run("jitter", true, 4)])
    for (const [id, t] of fixed) {
      expect(t.length, `${id}: attempts with attempts: 3`).toBe(3)
      const gaps = [t[1]! - t[0]!, t[2]! - t[1]!]
      const delays = [100, 200]
      gaps.forEach((gap, i) => {
        expect(gap, `jitter off, gap ${i + 1} (policy ${delays[i]} ms; gaps ${gaps.map(Math.round).join(", ")})`).toBeGreaterThanOrEqual(delays[i]! - granularity)
        expect(gap, `jitter off, gap ${i + 1} (policy ${delays[i]} ms + ${tol} ms; gaps ${gaps.map(Math.round).join(", ")})`).toBeLessThanOrEqual(delays[i]! + tol)
      })
    }
    for (const [id, t] of jittered) {
      expect(t.length, `${id}: attempts with attempts: 4`).toBe(4)
      const delays = [100, 200, 400]
      for (let i = 0; i < 3; i++) {
        const gap = t[i + 1]! - t[i]!
        // Jitter spreads each delay over x0.8–1.2.
        expect(gap, `jitter on, gap ${i + 1} (policy ${delays[i]} ms x0.8)`).toBeGreaterThanOrEqual(delays[i]! * 0.8 - granularity)
        expect(gap, `jitter on, gap ${i + 1} (policy ${delays[i]} ms x1.2 + ${tol} ms)`).toBeLessThanOrEqual(delays[i]! * 1.2 + tol)
      }
    }
  })

  // ---------------------------------------------------------------- case 15
  defineCase(suite, 15, async (ctx) => {
    const bus = await ctx.connect()
    // Long enough that 100 quick messages finish while it waits, on any broker.
    const retryDelay = Math.max(2000, ctx.backoffToleranceMs * 5)
    const others = new Set<string>()
    const failedOnce = deferred()
    let othersAtRetry: number | undefined
    let retried = false
    await bus.subscribe(
      ctx.key("#"),
      (m: Message<unknown>) => {
        if ((m.payload as { fail?: boolean } | null)?.fail === true) {
          if (m.attempt === 1) {
            failedOnce.resolve()
            throw new Error("fails once, then waits for its retry")
          }
          othersAtRetry = others.size
          retried = true
          return
        }
        others.add(m.id)
      },
      { group: ctx.group(), concurrency: 1, retry: { attempts: 2, backoff: { initial: retryDelay, factor: 1, jitter: false } } },
    )
    const pub = await ctx.connect()
    await pub.publish(ctx.key("f"), { fail: true })
    await ctx.eventually(() => failedOnce.settled, "the first attempt of the failing message")
    const ids = (await mapWindowed(100, 50, (i) => pub.publish(ctx.key("o"), { i }))).map((r) => r.id)
    await ctx.eventually(() => retried, "the failed message's retry", retryDelay + ctx.eventuallyMs)
    await ctx.eventually(() => ids.every((id) => others.has(id)), () => `100 other messages handled (${others.size})`)
    expect(othersAtRetry, `other messages handled while the retry waited ${retryDelay} ms (concurrency 1)`).toBe(100)
  })

  // ---------------------------------------------------------------- case 16
  defineCase(suite, 16, async (ctx) => {
    const group = ctx.group()
    const pattern = ctx.key("#")
    const retry = { attempts: 6, backoff: { initial: 50, factor: 1, jitter: false } }
    // After a crash the broker redelivers once its lease runs out: use the short test lease.
    const lease = { leaseMs: ctx.harness.leaseMs }
    const busA = await ctx.connect(lease)
    const inAttempt2 = deferred()
    const gate = deferred() // holds A's attempt 2 until the case ends
    ctx.defer(() => gate.resolve())
    const seenByA: Array<number> = []
    await busA.subscribe(
      pattern,
      async (m) => {
        seenByA.push(m.attempt)
        if (m.attempt === 1) throw new Error("first attempt fails")
        inAttempt2.resolve()
        await gate.promise
      },
      { group, retry },
    )
    const pub = await ctx.connect()
    const { id } = await pub.publish(ctx.key("m"), { n: 1 })
    await ctx.eventually(() => inAttempt2.settled, () => `consumer A to reach attempt 2 (attempts so far: ${seenByA.join(", ")})`)
    await ctx.crash(busA)
    const busB = await ctx.connect(lease)
    const b = new Collector()
    await busB.subscribe(pattern, b.handler, { group, retry })
    await b.waitForIds([id], ctx.eventuallyMs + ctx.harness.leaseMs, "consumer B (after A crashed during attempt 2)")
    expect(seenByA, "attempts seen by A").toEqual([1, 2])
    // attempt 1 failed (recorded); attempt 2 ended in a crash without an outcome: B runs attempt 2 again, marked redelivered
    expect(b.first(id)!.attempt, "attempt number on B continues after the crash").toBe(2)
    expect(b.first(id)!.redeliveries, "B sees that attempt 2 came back").toBeGreaterThanOrEqual(1)
  })
}
