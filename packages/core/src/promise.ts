/**
 * The Promise API: each method runs the matching Effect of the Bus (bus.ts),
 * except publish and request, which call the Promise functions those Effects
 * wrap (per-message calls skip the fiber). There is no second implementation
 * here, only lifting of handlers and scopes. Failures reject with the same
 * tagged error classes. Loaded by connect.ts on the first connect.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Bus, BusOptions, Handler, Request } from "./api.ts"
import { busPromisesOf, liftPromiseHandler, makeBus, runToPromise, type BusShape } from "./bus.ts"
import { openTransport } from "./open.ts"
import type { Transport, TransportOptions } from "./transport.ts"

const run = runToPromise
const lift = liftPromiseHandler

/** A scoped effect run outside Effect: its scope closes with the returned handle. */
const scoped = <A extends { readonly close: () => Promise<void> }, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  run(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const a = yield* effect.pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
      return a
    }),
  )

const internals = new WeakMap<object, BusShape>()

/** The Effect Bus behind a Promise Bus (for @omnibus/core/testing and Effect interop). */
export const busShapeOf = (bus: Bus): BusShape | undefined => internals.get(bus)

export const fromShape = (shape: BusShape): Bus => {
  // publish and request skip the Effect runtime when the shape offers Promise versions (makeBus's does)
  const direct = busPromisesOf(shape)
  const bus: Bus = {
    transport: shape.transport,
    publish: (direct
      ? (key: never, payload: unknown, options?: never) => direct.publish(key, payload, options)
      : (key: never, payload: unknown, options?: never) => run(shape.publish(key, payload, options))) as Bus["publish"],
    publishBatch: (entries) => run(shape.publishBatch(entries)),
    subscribe: ((patterns: never, handler: Handler<unknown>, options?: never) => scoped(shape.subscribe(patterns, lift(handler) as never, options))) as Bus["subscribe"],
    request: (direct
      ? (method: never, payload: unknown, options?: never) => direct.requestReply(method, payload, options).then((r) => r.payload)
      : (method: never, payload: unknown, options?: never) => run(Effect.map(shape.requestReply(method, payload, options), (r) => r.payload))) as Bus["request"],
    requestReply: (direct
      ? (method: string, payload: unknown, options?: never) => direct.requestReply(method, payload, options)
      : (method: string, payload: unknown, options?: never) => run(shape.requestReply(method, payload, options))) as Bus["requestReply"],
    handle: ((method: never, handler: (r: Request<unknown>) => unknown, options?: never) => scoped(shape.handle(method, lift(handler) as never, options))) as Bus["handle"],
    declareGroup: ((patterns: never, options: { readonly group: string }) => run(shape.declareGroup(patterns, options))) as Bus["declareGroup"],
    deadLetters: {
      list: (group, options) => run(shape.deadLetters.list(group, options)),
      replay: (group, options) => run(shape.deadLetters.replay(group, options)),
      purge: (group) => run(shape.deadLetters.purge(group)),
    },
    health: () => run(shape.health),
    close: () => run(shape.close),
  }
  internals.set(bus, shape)
  return bus
}

/** connect() (connect.ts) once its arguments are checked and split. */
export const openBus = (url: string, transportOptions: TransportOptions, config: BusOptions): Promise<Bus> =>
  run(Effect.map(Effect.flatMap(openTransport(url, transportOptions, config), (t) => makeBus(t, config)), fromShape))

/** fromTransport() (connect.ts). */
export const busOver = (transport: Transport, options: BusOptions): Promise<Bus> => run(Effect.map(makeBus(transport, options), fromShape))
