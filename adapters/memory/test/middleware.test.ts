import { describe, expect, it } from "vitest"
import { connect, PermanentError, type LogFields, type Logger, type Middleware } from "@omnibus/core"
import { spy } from "@omnibus/core/testing"
import "@omnibus/memory"

/** Remembers every line, by level. */
const recordingLogger = () => {
  const lines: Array<{ level: string; fields: LogFields; message: string }> = []
  const at = (level: string) => (fields: LogFields, message: string) => void lines.push({ level, fields, message })
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }
  return { logger, lines }
}

describe("middleware", () => {
  it("wraps publish, handle, request and serve in order: bus middleware outside, the subscription's inside", async () => {
    const order: Array<string> = []
    const tag = (name: string): Middleware => ({
      publish: async (ctx, next) => {
        order.push(`${name}:publish`)
        ctx.headers[`x-${name}`] = "1"
        return next()
      },
      handle: async (_ctx, next) => {
        order.push(`${name}:handle>`)
        const outcome = await next()
        order.push(`${name}:handle<`)
        return outcome
      },
      request: async (ctx, next) => {
        order.push(`${name}:request`)
        ctx.headers[`x-${name}`] = "1"
        return next()
      },
      serve: async (ctx, next) => {
        order.push(`${name}:serve:${ctx.request.headers[`x-${name}`] ?? "-"}`)
        return next()
      },
    })
    const bus = await connect("memory://mw-order", { middleware: [tag("outer"), tag("inner")] })
    const s = spy()
    await bus.subscribe("a.b", async (m) => {
      order.push("handler")
      await s.handler(m)
    }, { group: "g", middleware: [tag("sub")] })
    await bus.publish("a.b", { n: 1 })
    const m = await s.waitFor(() => true)
    expect(m.headers).toMatchObject({ "x-outer": "1", "x-inner": "1" })
    expect(order).toEqual(["outer:publish", "inner:publish", "outer:handle>", "inner:handle>", "sub:handle>", "handler", "sub:handle<", "inner:handle<", "outer:handle<"])
    order.length = 0
    await bus.handle("m.x", (r) => r.payload)
    expect(await bus.request("m.x", 7)).toBe(7)
    expect(order).toEqual(["outer:request", "inner:request", "outer:serve:1", "inner:serve:1"])
    await bus.close()
  })

  it("cannot turn a failed handler into an ack without ctx.recover, which is logged", async () => {
    const { logger, lines } = recordingLogger()
    const swallow: Middleware = { handle: async (_ctx, next) => next().catch(() => { throw new Error("unreachable: next() never rejects") }) }
    const recover: Middleware = {
      handle: async (ctx, next) => {
        const outcome = await next()
        return outcome.ok || ctx.message.payload !== "recover" ? outcome : ctx.recover("known bad payload")
      },
    }
    const bus = await connect("memory://mw-recover", { logger, middleware: [swallow, recover] })
    const s = spy(() => { throw new Error("handler failed") })
    await bus.subscribe("a.*", s.handler, { group: "g", retry: false, observe: s.observe })
    await bus.publish("a.fail", "fail")
    await bus.publish("a.recover", "recover")
    await expect.poll(() => s.counts.deadLettered + s.counts.handled).toBe(2)
    expect(s.counts).toMatchObject({ handled: 1, deadLettered: 1 })
    const dead = await bus.deadLetters.list("g")
    expect(dead.map((d) => [d.routingKey, d.failure.error])).toEqual([["a.fail", "handler failed"]])
    expect(lines.filter((l) => l.level === "warn").map((l) => [l.message, l.fields["reason"], l.fields["group"], l.fields["routingKey"]])).toEqual([
      ["omnibus: a middleware recovered a failed handler", "known bad payload", "g", "a.recover"],
    ])
    await bus.close()
  })

  it("ctx.fail and a throwing hook fail the run: retried by the policy, then dead-lettered", async () => {
    let calls = 0
    const gate: Middleware = {
      handle: async (ctx, next) => {
        calls++
        if (ctx.message.attempt === 1) return ctx.fail(new Error("circuit open"))
        if (ctx.message.attempt === 2) throw new PermanentError("hook threw")
        return next()
      },
    }
    const bus = await connect("memory://mw-fail", { middleware: [gate] })
    const s = spy()
    await bus.subscribe("a.b", s.handler, { group: "g", observe: s.observe, retry: { attempts: 3, backoff: { initial: 5, factor: 1, jitter: false } } })
    await bus.publish("a.b", 1)
    await expect.poll(() => s.counts.deadLettered).toBe(1)
    expect([calls, s.counts.retried, s.messages.length]).toEqual([2, 1, 0])
    const [dead] = await bus.deadLetters.list("g")
    expect([dead?.failure.errorName, dead?.failure.attempts]).toEqual(["PermanentError", 2])
    await bus.close()
  })

  it("observe on a middleware sees every subscription's outcomes; logger lines name group, key and id", async () => {
    const { logger, lines } = recordingLogger()
    const seen: Array<string> = []
    const bus = await connect("memory://mw-observe", { logger, middleware: [{ observe: (e) => seen.push(`${e.group}:${e.type}`) }] })
    await bus.subscribe("a.b", () => undefined, { group: "one", observe: () => { throw new Error("a buggy observer") } })
    await bus.subscribe("a.b", () => { throw new PermanentError("no") }, { group: "two" })
    const { id } = await bus.publish("a.b", 1)
    await expect.poll(() => seen.length).toBe(2)
    expect(seen.sort()).toEqual(["one:handled", "two:dead-letter"])
    expect(lines.find((l) => l.message === "omnibus: observe threw")?.fields).toMatchObject({ group: "one", id, error: "a buggy observer" })
    await bus.close()
  })

  it("rejects middleware and loggers of the wrong shape before connecting", async () => {
    await expect(connect("memory://mw-bad", { middleware: "nope" as never })).rejects.toMatchObject({ _tag: "InvalidOptions", option: "middleware" })
    await expect(connect("memory://mw-bad", { logger: { warn: () => undefined } as never })).rejects.toMatchObject({ _tag: "InvalidOptions", option: "logger" })
  })
})
