/**
 * Section F: request / reply (cases 23–27).
 */
import { text } from "@omnibus/core"
import type { Codec, Request } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase, rejectionOf } from "../context.ts"
import type { Suite } from "../context.ts"
import { deferred, delay, errorText } from "../wait.ts"

export const registerRpc = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 23
  defineCase(suite, 23, async (ctx) => {
    const server = await ctx.connect()
    const client = await ctx.connect()
    const method = ctx.key("echo")
    const seen: Array<Request<unknown>> = []
    await server.handle(method, (req: Request<unknown>) => {
      seen.push(req)
      return { echo: req.payload, method: req.method }
    })
    const payload = { a: 1, s: "ünï ✓ 日本", list: [1, null, true] }
    const headers = { "x-request": "héllo ✓", "x-trace": "t-23" }
    const reply = await client.requestReply<{ echo: unknown; method: string }>(method, payload, { headers, timeout: 5000 })
    expect(reply.payload).toEqual({ echo: payload, method })
    expect(seen.length, "server calls").toBe(1)
    const req = seen[0]!
    expect(req.payload, "request payload on the server").toEqual(payload)
    expect(req.headers, "request headers on the server").toEqual(headers)
    expect(req.method).toBe(method)
    expect(typeof req.correlationId === "string" && req.correlationId.length > 0, "request carries a correlation id").toBe(true)
    expect(reply.correlationId, "reply correlation id matches the request's").toBe(req.correlationId)
    expect(reply.contentType).toBe("application/json")
    // request() gives the payload alone; text codecs both ways.
    expect(await client.request(method, [1, 2, 3], { timeout: 5000 })).toEqual({ echo: [1, 2, 3], method })
    const upper = ctx.key("upper")
    await server.handle<string>(upper, (r) => r.payload.toUpperCase(), { codec: text, responseCodec: text as Codec<unknown> })
    expect(await client.request<string>(upper, "grüße ✓", { timeout: 5000, codec: text as Codec<unknown>, responseCodec: text })).toBe("GRÜSSE ✓")
  })

  // ---------------------------------------------------------------- case 24
  defineCase(suite, 24, async (ctx) => {
    const method = ctx.key("share")
    const group = ctx.group("servers")
    const served = [0, 0, 0]
    await Promise.all(
      served.map(async (_, i) => {
        const server = await ctx.connect()
        await server.handle<{ n: number }>(
          method,
          async (req) => {
            served[i]!++
            await delay(2) // simulated work, so that the load spreads
            return { n: req.payload.n, server: i }
          },
          { group, concurrency: 4 },
        )
      }),
    )
    const client = await ctx.connect()
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, n) => client.request<{ n: number; server: number }>(method, { n }, { timeout: ctx.eventuallyMs })),
    )
    const crossed = replies.map((r, n) => ({ r, n })).filter(({ r, n }) => r.n !== n)
    expect(crossed.length, `replies for another request (e.g. request ${crossed[0]?.n} got ${crossed[0]?.r.n})`).toBe(0)
    expect(served.reduce((a, b) => a + b, 0), "requests served").toBe(500)
    for (const [i, n] of served.entries()) expect(n, `server ${i} served at least one (${served.join("/")})`).toBeGreaterThan(0)
  })

  // ---------------------------------------------------------------- case 25
  defineCase(suite, 25, async (ctx) => {
    const server = await ctx.connect()
    const client = await ctx.connect()
    const method = ctx.key("validate")
    await server.handle<{ mode: string }>(method, (req) => {
      if (req.payload.mode === "coded") throw Object.assign(new Error("boom ✓"), { name: "ValidationError", code: "E_BAD" })
      if (req.payload.mode === "plain") throw new TypeError("no code here")
      return "fine"
    })
    const coded = await rejectionOf(client.request(method, { mode: "coded" }, { timeout: 5000 }), ["RemoteError"], "request to a throwing handler")
    expect(coded.remoteName).toBe("ValidationError")
    expect(coded.remoteMessage).toBe("boom ✓")
    expect(coded.code).toBe("E_BAD")
    const plain = await rejectionOf(client.request(method, { mode: "plain" }, { timeout: 5000 }), ["RemoteError"], "request to a throwing handler")
    expect(plain.remoteName).toBe("TypeError")
    expect(plain.remoteMessage).toBe("no code here")
    expect(plain.code ?? undefined, "no code").toBeUndefined()
    expect(await client.request(method, { mode: "ok" }, { timeout: 5000 }), "server keeps serving").toBe("fine")
  })

  // ---------------------------------------------------------------- case 26
  defineCase(suite, 26, async (ctx) => {
    const server = await ctx.connect()
    const client = await ctx.connect()
    const method = ctx.key("slow")
    const timeoutMs = 1000
    const lateReplySent = deferred()
    await server.handle<{ slow: boolean }>(
      method,
      async (req) => {
        if (!req.payload.slow) return "quick"
        await delay(timeoutMs + 700) // replies well after the caller gave up
        lateReplySent.resolve()
        return "late"
      },
      { concurrency: 2 },
    )
    const stray: Array<string> = []
    const onStray = (e: unknown): void => {
      stray.push(errorText(e))
    }
    process.on("unhandledRejection", onStray)
    process.on("uncaughtException", onStray)
    ctx.defer(() => {
      process.off("unhandledRejection", onStray)
      process.off("uncaughtException", onStray)
    })
    const started = performance.now()
    const err = await rejectionOf(client.request(method, { slow: true }, { timeout: timeoutMs }), ["RequestTimeout"], "request without a reply in time")
    const elapsed = performance.now() - started
    expect(Math.abs(elapsed - timeoutMs), `timed out after ${Math.round(elapsed)} ms, asked for ${timeoutMs} ms`).toBeLessThanOrEqual(250)
    expect(err.method).toBe(method)
    await ctx.eventually(() => lateReplySent.settled, "the server to send its late reply")
    // A later round trip on the same client: the late reply reached it first on any broker that keeps reply order.
    expect(await client.request(method, { slow: false }, { timeout: 5000 })).toBe("quick")
    expect(stray, "errors raised by the late reply").toEqual([])
  })

  // ---------------------------------------------------------------- case 27
  defineCase(suite, 27, async (ctx) => {
    const client = await ctx.connect()
    const nobody = ctx.key("nobody")
    let started = performance.now()
    await rejectionOf(client.request(nobody, {}, { timeout: 5000 }), ["NoResponders"], "request to a method nobody serves")
    let elapsed = performance.now() - started
    expect(elapsed, "no-responders reported well before the 5 s timeout").toBeLessThan(2000)
    // A server that went away: no responders again.
    const server = await ctx.connect()
    const gone = ctx.key("gone")
    const sub = await server.handle(gone, () => "here")
    expect(await client.request(gone, {}, { timeout: 5000 })).toBe("here")
    await sub.close()
    started = performance.now()
    await rejectionOf(client.request(gone, {}, { timeout: 5000 }), ["NoResponders"], "request after the only server closed")
    elapsed = performance.now() - started
    expect(elapsed, "no-responders after the server closed, well before the 5 s timeout").toBeLessThan(2000)
  })
}
