/**
 * @omnibus/redis: Omnibus over Redis Streams (redis://, rediss://).
 * Importing the package registers the adapter with core.
 */
import { registerAdapter } from "@omnibus/core"
import type { AdapterFactory, TransportOptions } from "@omnibus/core/transport"
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
