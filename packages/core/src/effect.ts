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
import { busConfigProblem, makeBus, type BusShape } from "./bus.ts"
import { ConnectionFailed, InvalidOptions, InvalidUrl, redactUrl, type ConnectError } from "./errors.ts"
import { resolveAdapter } from "./registry.ts"
import type { Transport, TransportOptions } from "./transport.ts"

export class Bus extends Context.Service<Bus, BusShape>()("@omnibus/core/Bus") {
  /** A Bus over a transport you built; closed (drained) when the layer's scope ends. */
  static readonly layerFromTransport = (transport: Effect.Effect<Transport, ConnectError>, config: BusOptions = {}) =>
    Layer.effect(
      Bus,
      Effect.acquireRelease(Effect.flatMap(transport, (t) => makeBus(t, config)), (bus) => bus.close),
    )

  /** A Bus for a URL: memory://, amqp(s)://, nats://, kafka://, redis(s)://; `middleware` and `logger` go to the Bus, the rest to the adapter. */
  static readonly layerFromUrl = (url: string, options: TransportOptions & BusOptions = {}) => {
    const [transportOptions, config] = splitOptions(options)
    return Bus.layerFromTransport(openTransport(url, transportOptions, config), config)
  }
}

/** Bus options (middleware, logger) apart from the adapter's. */
export const splitOptions = (options: TransportOptions & BusOptions): [TransportOptions, BusOptions] => {
  const { middleware, logger, ...rest } = options
  return [rest, { ...(middleware === undefined ? {} : { middleware }), ...(logger === undefined ? {} : { logger }) }]
}

const connectErrorTags = new Set(["InvalidUrl", "ConnectionFailed", "AuthenticationFailed", "InvalidOptions"])

/** Resolves the adapter for a URL's scheme and connects it, with typed errors. */
export const openTransport = (url: string, options: TransportOptions = {}, config: BusOptions = {}): Effect.Effect<Transport, ConnectError> =>
  Effect.tryPromise({
    try: async () => {
      const bad = busConfigProblem(config)
      if (bad) throw bad
      if (typeof url !== "string" || url.length === 0) {
        throw new InvalidUrl({ url: String(url), reason: `must be a non-empty string such as "memory://" or "amqp://host" (got ${typeof url === "string" ? "an empty string" : typeof url})` })
      }
      for (const option of ["connectTimeoutMs", "leaseMs", "maxPayloadBytes"] as const) {
        const v = options[option]
        if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0)) {
          throw new InvalidOptions({ option, reason: `must be a positive number of ${option === "maxPayloadBytes" ? "bytes" : "milliseconds"} (got ${JSON.stringify(v)})` })
        }
      }
      const factory = await resolveAdapter(url)
      return factory.create(url, options)
    },
    catch: (e): ConnectError => {
      const tag = (e as { _tag?: unknown })?._tag
      if (typeof tag === "string" && connectErrorTags.has(tag)) return e as ConnectError
      return new ConnectionFailed({ url: redactUrl(String(url)), reason: e instanceof Error ? e.message : String(e), cause: e })
    },
  })

/** Connects and builds a Bus in one effect (the caller closes it). */
export const connectEffect = (url: string, options: TransportOptions & BusOptions = {}): Effect.Effect<BusShape, ConnectError> => {
  const [transportOptions, config] = splitOptions(options)
  return Effect.flatMap(openTransport(url, transportOptions, config), (t) => makeBus(t, config))
}

export type { BusShape }
export type { EffectHandler, EffectRpcHandler, SubscribeEffectOptions } from "./bus.ts"
export type { Message, Request } from "./api.ts"
