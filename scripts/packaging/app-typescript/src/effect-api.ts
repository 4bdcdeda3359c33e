// The Effect API: the Bus service from a Layer, a scoped subscription, typed errors.
import { Bus } from "@omnibus/core/effect"
import type { Message } from "@omnibus/core"
import { Deferred, Effect } from "effect"
import { employeeCreated, type EmployeeCreated } from "./contracts.js"

export const program = (prefix: string) =>
  Effect.gen(function* () {
    const bus = yield* Bus
    const received = yield* Deferred.make<Message<EmployeeCreated>>()
    const created = employeeCreated(prefix)
    yield* bus.subscribe(created, (m) => Deferred.succeed(received, m), { group: `${prefix}-audit` })
    yield* bus.publish(created, { guid: "e-2", name: "Ada" })
    const m = yield* Deferred.await(received).pipe(Effect.timeout("5 seconds"))
    return m.payload.name
  }).pipe(Effect.scoped)

export const runEffectApi = (url: string, prefix: string): Promise<string> =>
  program(prefix).pipe(
    Effect.provide(Bus.layerFromUrl(url)),
    // Connect errors are typed: the tag narrows to the class.
    Effect.catchTag("ConnectionFailed", (e) => Effect.die(new Error(`cannot reach ${e.url}: ${e.reason}`))),
    Effect.runPromise,
  )
