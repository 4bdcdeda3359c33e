/**
 * "RPC storm with a server killed": two RPC server processes of one group,
 * 3,000 requests with 64 in flight (timeout 2 s), one server SIGKILLed after
 * 1,000 replies. Every request settles within its timeout plus a margin,
 * with a reply or a typed error, and only requests in flight at the kill or
 * sent within 1 s after it may fail: after that the survivor serves them all.
 */
import { expect } from "vitest"
import { errorText, mapWindowed } from "../wait.ts"
import { defineFault, tagOf } from "./context.ts"
import type { FaultContext, FaultSuite } from "./context.ts"
import { forkChild } from "./fork-child.ts"

const REQUESTS = 3_000
const IN_FLIGHT = 64
const TIMEOUT_MS = 2_000
const KILL_AFTER = 1_000
/** A request settles within its timeout plus this (timer slack, a loaded CI machine). */
const SETTLE_MARGIN_MS = 1_000
/** Requests sent this long after the kill must succeed. */
const FAILOVER_MS = 1_000
const TYPED = new Set(["RequestTimeout", "NoResponders"])

interface Outcome {
  sentAt: number
  settledAt?: number
  pid?: number
  error?: string
  tag?: string
}

export const registerRpcStorm = (suite: FaultSuite): void => {
  defineFault(suite, "G-rpc-kill", async (ctx) => {
    const b = ctx.broker
    const method = ctx.key("rpc")
    // the adapter's default leases: what a user's servers run with
    const options = { connectTimeoutMs: 20_000 }
    const config = { adapterModule: suite.harness.adapterModule, url: b.url, options, method, group: ctx.group("servers"), concurrency: 32 }
    const servers = [forkChild(ctx, "child-rpc-server", config), forkChild(ctx, "child-rpc-server", config)]
    await ctx.eventually(() => {
      const failed = servers.find((s) => s.error !== undefined)
      if (failed) throw new Error(`child RPC server failed: ${failed.error}`)
      return servers.every((s) => s.ready)
    }, "both RPC server processes to serve", 60_000)
    const client = await ctx.connect(b.url, options)
    // Both servers answer before the storm starts (the requester's own setup is not what is measured).
    const warmedUp = new Set<number>()
    await ctx.eventually(async () => {
      const r = await client.request<{ pid: number }>(method, { i: -1 }, { timeout: TIMEOUT_MS }).catch(() => undefined)
      if (r !== undefined) warmedUp.add(r.pid)
      return warmedUp.size === servers.length
    }, () => `both servers to answer a warm-up request (seen ${warmedUp.size})`)

    const victim = servers[0]!
    const victimPid = victim.process.pid
    const outcomes: Array<Outcome> = []
    let replies = 0
    let killedAt: number | undefined
    const started = performance.now()
    const storm = mapWindowed(REQUESTS, IN_FLIGHT, async (i) => {
      const o: Outcome = { sentAt: performance.now() }
      outcomes[i] = o
      try {
        const r = await client.request<{ i: number; pid: number }>(method, { i }, { timeout: TIMEOUT_MS })
        o.pid = r.pid
        if (++replies >= KILL_AFTER && killedAt === undefined) {
          killedAt = performance.now()
          victim.process.kill("SIGKILL")
        }
      } catch (e) {
        o.error = errorText(e)
        o.tag = tagOf(e)
      }
      o.settledAt = performance.now()
    })
    storm.catch(() => undefined)
    const settled = () => outcomes.filter((o) => o.settledAt !== undefined).length
    try {
      await ctx.eventually(() => settled() === REQUESTS, () => `all ${REQUESTS} requests to settle: ${settled()} settled, ${outcomes.filter((o) => o.settledAt === undefined).length} sent and unsettled`, 120_000)
    } finally {
      const failed = outcomes.filter((o) => o.error !== undefined)
      const at = killedAt
      const latest = at === undefined || failed.length === 0 ? undefined : Math.round(Math.max(...failed.map((o) => o.sentAt)) - at)
      const inFlight = at === undefined ? 0 : failed.filter((o) => o.sentAt <= at).length
      const tags = new Map<string, number>()
      for (const o of failed) tags.set(o.tag ?? "untyped", (tags.get(o.tag ?? "untyped") ?? 0) + 1)
      ctx.metrics.sent = REQUESTS
      ctx.metrics.rejected = failed.length
      if (latest !== undefined) ctx.metrics.recoveryMs = Math.max(0, latest)
      ctx.metrics.note =
        `${failed.length} of ${REQUESTS} requests failed (${[...tags].map(([t, n]) => `${n} ${t}`).join(", ") || "none"}): ` +
        `${inFlight} in flight at the kill, ${failed.length - inFlight} sent after it` +
        (latest !== undefined ? `, the latest sent ${latest} ms after the kill` : "") +
        `; storm ${Math.round(performance.now() - started)} ms; ${IN_FLIGHT} in flight, timeout ${TIMEOUT_MS} ms, one of 2 server processes SIGKILLed after ${KILL_AFTER} replies`
      ctx.note(ctx.metrics.note)
    }
    await storm
    expect(killedAt, "a server was killed mid-storm").toBeDefined()
    const kill = killedAt!
    await victim.exited
    expect(outcomes.some((o) => o.pid === victimPid && o.settledAt! <= kill), "the killed server served requests before the kill").toBe(true)
    const slow = outcomes.filter((o) => o.settledAt! - o.sentAt > TIMEOUT_MS + SETTLE_MARGIN_MS)
    expect(slow.map((o) => `${Math.round(o.settledAt! - o.sentAt)} ms: ${o.error ?? "ok"}`), `requests settled later than ${TIMEOUT_MS + SETTLE_MARGIN_MS} ms`).toEqual([])
    const failed = outcomes.filter((o) => o.error !== undefined)
    expect(failed.filter((o) => !TYPED.has(o.tag ?? "")).map((o) => o.error), "failures without RequestTimeout or NoResponders").toEqual([])
    // allowed: in flight at the kill (sent before it, settled after it), or sent within FAILOVER_MS after it
    const allowed = (o: Outcome): boolean => (o.sentAt <= kill ? o.settledAt! >= kill : o.sentAt - kill < FAILOVER_MS)
    expect(
      failed.filter((o) => !allowed(o)).map((o) => `sent ${Math.round(o.sentAt - kill)} ms after the kill: ${o.error}`),
      `failures neither in flight at the kill nor sent within ${FAILOVER_MS} ms after it`,
    ).toEqual([])
  }, { timeoutMs: 240_000 })
}
