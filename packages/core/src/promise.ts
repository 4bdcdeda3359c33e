/**
 * The Promise API: each method runs the matching Effect of the Bus (bus.ts);
 * there is no second implementation here, only lifting of handlers and
 * scopes. Failures reject with the same tagged error classes.
 */
import { Effect, Exit, Scope } from "effect"
import type { Bus, Handler, Request } from "./api.ts"
import { makeBus, type BusShape } from "./bus.ts"
import { openTransport } from "./effect.ts"
import type { Transport, TransportOptions } from "./transport.ts"

export interface ConnectConfig extends TransportOptions {
  readonly url: string
}

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Effect.runSync(Exit.match(exit, { onSuccess: () => Effect.void, onFailure: (cause) => Effect.succeed(squash(cause)) }))
  })

import { Cause } from "effect"
const squash = (cause: Cause.Cause<unknown>): unknown => Cause.squash(cause)

const lift = <T>(f: (arg: T) => unknown) => (arg: T) =>
  Effect.tryPromise({ try: async () => f(arg), catch: (e) => e })

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
  const bus: Bus = {
    transport: shape.transport.name,
    publish: ((key: never, payload: unknown, options?: never) => run(shape.publish(key, payload, options))) as Bus["publish"],
    publishBatch: (entries) => run(shape.publishBatch(entries)),
    subscribe: ((patterns: never, handler: Handler<unknown>, options?: never) => scoped(shape.subscribe(patterns, lift(handler) as never, options))) as Bus["subscribe"],
    request: ((method: never, payload: unknown, options?: never) => run(Effect.map(shape.requestReply(method, payload, options), (r) => r.payload))) as Bus["request"],
    requestReply: ((method: string, payload: unknown, options?: never) => run(shape.requestReply(method, payload, options))) as Bus["requestReply"],
    handle: ((method: never, handler: (r: Request<unknown>) => unknown, options?: never) => scoped(shape.handle(method, lift(handler) as never, options))) as Bus["handle"],
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

/**
 * Connects to a broker chosen by the URL's scheme (default: the embedded
 * in-memory broker), e.g. `connect(process.env.OMNIBUS_URL ?? "memory://")`.
 */
export const connect = (target: string | ConnectConfig = "memory://", options: TransportOptions = {}): Promise<Bus> => {
  const [url, opts] = typeof target === "string" ? [target, options] : [target.url, { ...target, ...options }]
  return run(Effect.map(Effect.flatMap(openTransport(url, opts), makeBus), fromShape))
}

/** Wraps a transport you built yourself. */
export const fromTransport = (transport: Transport): Promise<Bus> => run(Effect.map(makeBus(transport), fromShape))
