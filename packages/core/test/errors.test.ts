import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describe, expect, it } from "vitest"
import { BusClosed, PublishFailed, RequestTimeout } from "../src/errors.ts"

// This file never opens a bus, so bus.ts (which makes the errors yieldable when
// it loads) stays unloaded until the last test: the first `yield*` of an error
// must make it an Effect on the spot.
describe("tagged errors", () => {
  it("are Errors with their tag, fields, name and message", () => {
    const cause = new Error("socket closed")
    const e = new PublishFailed({ key: "employee.created", reason: "nack", cause })
    expect(e).toBeInstanceOf(Error)
    expect(e).toBeInstanceOf(PublishFailed)
    expect(e._tag).toBe("PublishFailed")
    expect(e.name).toBe("PublishFailed")
    expect(e.key).toBe("employee.created")
    expect(e.cause).toBe(cause)
    expect(e.message).toBe("publish to employee.created failed: nack")
    expect(String(e.stack)).toContain("PublishFailed")
    expect(JSON.parse(JSON.stringify(new RequestTimeout({ method: "employee.get", timeoutMs: 500 })))).toEqual({ _tag: "RequestTimeout", method: "employee.get", timeoutMs: 500 })
  })

  it("can be yielded in Effect code before any bus loaded the runtime, and caught by tag", async () => {
    const failing = Effect.gen(function* () {
      yield* new BusClosed({ operation: "publish" })
      return "unreachable"
    })
    const exit = await Effect.runPromiseExit(failing)
    expect(Exit.isFailure(exit)).toBe(true)
    const caught = await Effect.runPromise(failing.pipe(Effect.catchTag("BusClosed", (e) => Effect.succeed(`caught ${e.operation}`))))
    expect(caught).toBe("caught publish")
  })

  it("are Effects once the runtime is loaded", async () => {
    await import("../src/bus.ts")
    const e = new BusClosed({ operation: "request" })
    expect(Effect.isEffect(e)).toBe(true)
    const exit = await Effect.runPromiseExit(e as unknown as Effect.Effect<never, BusClosed>)
    expect(exit).toEqual(Exit.fail(e))
  })
})
