/**
 * Opening a transport for a URL: the adapter chosen by the URL's scheme, the
 * options checked first, every failure a typed ConnectError. Shared by
 * `connect()` (connect.ts, promise.ts) and the Effect Layers (effect.ts); internal, so
 * neither entry point shows the Transport port to users.
 */
import * as Effect from "effect/Effect"
import type { BusOptions } from "./api.ts"
import { busConfigProblem } from "./bus.ts"
import { ConnectionFailed, InvalidOptions, InvalidUrl, redactUrl, type ConnectError } from "./errors.ts"
import { resolveAdapter } from "./registry.ts"
import type { Transport, TransportOptions } from "./transport.ts"

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
