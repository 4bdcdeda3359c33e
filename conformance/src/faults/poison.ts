/**
 * "Poison among healthy traffic": 1,000 messages to one group whose consumer
 * process exits inside the handler of a poison message, restarted each time
 * by the case as a supervisor would. Only the culprit may pay: every healthy
 * message is handled, none is dead-lettered, and each poison ends in the dead
 * letters with RedeliveriesExhausted (packages/core/src/isolation.ts).
 * Variants: 1 or 3 poisons (at random positions), concurrency 4 or 16.
 */
import { randomUUID } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { DeadLetterRecord } from "@omnibus/core"
import { expect } from "vitest"
import { mapWindowed } from "../wait.ts"
import type { FaultId } from "../cases.ts"
import { defineFault } from "./context.ts"
import type { FaultSuite } from "./context.ts"
import { forkChild, type ForkedChild } from "./fork-child.ts"

const MESSAGES = 1_000
const MAX_REDELIVERIES = 2

const VARIANTS: ReadonlyArray<{ readonly id: FaultId; readonly poisons: number; readonly concurrency: number }> = [
  { id: "G-poison-1x4", poisons: 1, concurrency: 4 },
  { id: "G-poison-1x16", poisons: 1, concurrency: 16 },
  { id: "G-poison-3x4", poisons: 3, concurrency: 4 },
  { id: "G-poison-3x16", poisons: 3, concurrency: 16 },
]

/** One poison sits in the middle; more are spread at random. */
const poisonPositions = (n: number): Array<number> => {
  if (n === 1) return [MESSAGES / 2]
  const at = new Set<number>()
  while (at.size < n) at.add(1 + Math.floor(Math.random() * (MESSAGES - 2)))
  return [...at].sort((a, b) => a - b)
}

const handledCounts = (file: string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const id of readFileSync(file, "utf8").split("\n")) if (id !== "") counts.set(id, (counts.get(id) ?? 0) + 1)
  return counts
}

export const registerPoison = (suite: FaultSuite): void => {
  for (const v of VARIANTS) {
    defineFault(suite, v.id, async (ctx) => {
      const b = ctx.broker
      const group = ctx.group("poison")
      const pattern = ctx.key("#")
      const handledFile = join(tmpdir(), `omnibus-poison-${randomUUID()}.log`)
      writeFileSync(handledFile, "")
      ctx.defer(async () => writeFileSync(handledFile, ""))
      const options = { leaseMs: suite.harness.leaseMs, connectTimeoutMs: 20_000 }
      const config = { adapterModule: suite.harness.adapterModule, url: b.url, options, pattern, group, concurrency: v.concurrency, maxRedeliveries: MAX_REDELIVERIES, handledFile }

      // The supervisor: a new consumer process each time the last one died.
      let child: ForkedChild | undefined
      let restarts = -1
      let finished = false
      const start = (): void => {
        restarts++
        const c = forkChild(ctx, "child-poison-consumer", config)
        child = c
        void c.exited.then(() => {
          if (!finished) start()
        })
      }
      start()
      await ctx.eventually(() => {
        if (child?.error !== undefined) throw new Error(`child consumer failed: ${child.error}`)
        return child?.ready === true
      }, "the consumer process to subscribe", 60_000)

      const publisher = await ctx.connect(b.url, options)
      const positions = poisonPositions(v.poisons)
      const ids = Array.from({ length: MESSAGES }, () => randomUUID())
      const poisons = new Set<string>(positions.map((i) => ids[i]!))
      await mapWindowed(MESSAGES, 100, (i) => publisher.publish(ctx.key("m", i), { i, ...(poisons.has(ids[i]!) ? { poison: true } : {}) }, { id: ids[i]! }))
      const healthy = ids.filter((id) => !poisons.has(id))

      let handled = new Map<string, number>()
      let dead: ReadonlyArray<DeadLetterRecord> = []
      const began = performance.now()
      try {
        await ctx.eventually(async () => {
          handled = handledCounts(handledFile)
          dead = await publisher.deadLetters.list(group)
          // a dead letter never leaves by itself: a healthy one there fails the case now
          const wrong = dead.filter((d) => !poisons.has(d.id))
          if (wrong.length > 0) throw new Error(`${wrong.length} healthy messages dead-lettered`)
          return healthy.every((id) => handled.has(id)) && [...poisons].every((id) => dead.some((d) => d.id === id))
        }, () => `every healthy message handled (${healthy.filter((id) => !handled.has(id)).length} missing) and the poison dead-lettered (${dead.length} dead letters, ${restarts} restarts)`, 240_000)
      } finally {
        finished = true
        const deadHealthy = dead.filter((d) => !poisons.has(d.id))
        ctx.metrics.sent = MESSAGES
        ctx.metrics.confirmed = MESSAGES
        ctx.metrics.lost = healthy.filter((id) => !handled.has(id)).length
        ctx.metrics.handledTwice = [...handled.values()].filter((n) => n > 1).length
        ctx.metrics.recoveryMs = Math.round(performance.now() - began)
        ctx.metrics.note =
          `${v.poisons} poison (#${positions.join(", #")}) among ${MESSAGES}, concurrency ${v.concurrency}, maxRedeliveries ${MAX_REDELIVERIES}: ` +
          `${restarts} restarts, ${dead.length - deadHealthy.length} poison and ${deadHealthy.length} healthy dead-lettered, ` +
          `${ctx.metrics.lost} healthy never handled, ${ctx.metrics.handledTwice} handled twice`
        ctx.note(ctx.metrics.note)
        if (child?.process.exitCode === null) child.process.kill("SIGKILL")
      }
      expect(dead.filter((d) => !poisons.has(d.id)).map((d) => `${d.routingKey}: ${d.failure.errorName}`), "healthy messages in the dead letters").toEqual([])
      for (const d of dead) expect([d.failure.errorName, d.failure.attempts], `the poison's dead letter ${d.routingKey}`).toEqual(["RedeliveriesExhausted", 1])
      // each poison crashes its consumer once among others, then up to maxRedeliveries times alone
      expect(restarts, "consumer restarts").toBeGreaterThanOrEqual(v.poisons)
      expect(restarts, "consumer restarts").toBeLessThanOrEqual(v.poisons * (1 + MAX_REDELIVERIES))
    }, { timeoutMs: 300_000 })
  }
}
