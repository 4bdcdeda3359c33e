import { Bus as BusLayer } from "@omnibus/core/effect"
/**
 * @omnibus/redis: Omnibus over Redis Streams (redis://, rediss://).
 * Importing the package registers the adapter with core.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import type { AdapterFactory, TransportOptions } from "@omnibus/core/adapter"
import { RedisTransport } from "./transport.ts"

export const redisAdapter: AdapterFactory = {
  name: "redis",
  schemes: ["redis", "rediss"],
  create: (url: string, options: TransportOptions) => RedisTransport.create(url, options),
}

registerAdapter(redisAdapter)

export { RedisTransport, DEFAULT_MAX_PAYLOAD, type RedisTransportOptions } from "./transport.ts"
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions } from "./idempotency.ts"
export { Keys, type KeyOptions } from "./keys.ts"
export { PAYLOAD_FIELD } from "./fields.ts"

/**
 * For Effect users: a Layer providing the `Bus` service (from @omnibus/core/effect)
 * on this broker, drained and closed when the Layer's scope ends.
 */
export const layer = (url = "redis://127.0.0.1:6379", options: import("@omnibus/core").TransportOptions = {}) => BusLayer.layerFromUrl(url, options)
