/**
 * Omnibus for Effect users: the `Bus` service, Layers that connect it, typed
 * errors in the error channel, scoped subscriptions (closed with their Scope).
 *
 *   const program = Effect.gen(function* () {
 *     const bus = yield* Bus
 *     yield* bus.subscribe("employee.*", (m) => Effect.log(m.routingKey), { group: "audit" })
 *     yield* bus.publish("employee.created", { guid })
 *   })
 *   program.pipe(Effect.scoped, Effect.provide(Bus.layerFromUrl("amqp://localhost")))
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { BusOptions } from "./api.ts"
import { makeBus, type BusShape } from "./bus.ts"
import type { ConnectError } from "./errors.ts"
import { splitOptions } from "./connect.ts"
import { openTransport } from "./open.ts"
import type { TransportOptions } from "./transport.ts"

export class Bus extends Context.Service<Bus, BusShape>()("@omnibus/core/Bus") {
  /** A Bus for a URL: memory://, amqp(s)://, nats://, kafka://, redis(s)://; `middleware` and `logger` go to the Bus, the rest to the adapter. Closed (drained) when the layer's scope ends. */
  static readonly layerFromUrl = (url: string, options: TransportOptions & BusOptions = {}): Layer.Layer<Bus, ConnectError> => {
    const [transportOptions, config] = splitOptions(options)
    return Layer.effect(
      Bus,
      Effect.acquireRelease(Effect.flatMap(openTransport(url, transportOptions, config), (t) => makeBus(t, config)), (bus) => bus.close),
    )
  }
}

/** Connects and builds a Bus in one effect (the caller closes it). */
export const connectEffect = (url: string, options: TransportOptions & BusOptions = {}): Effect.Effect<BusShape, ConnectError> => {
  const [transportOptions, config] = splitOptions(options)
  return Effect.flatMap(openTransport(url, transportOptions, config), (t) => makeBus(t, config))
}

export type { BusShape }
export type { EffectHandler, EffectRpcHandler, SubscribeEffectOptions } from "./bus.ts"
export type { Message, Request } from "./api.ts"
