/**
 * @omnibus/redis: Omnibus over Redis Streams (redis://, rediss://).
 * Importing the package registers the adapter with core.
 * Effect users: `layer` from `@omnibus/redis/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import type { AdapterFactory, TransportOptions } from "@omnibus/core/adapter"
import { RedisTransport } from "./transport.ts"

/** The adapter behind redis:// and rediss:// (registered on import). */
export const redisAdapter: AdapterFactory = {
  name: "redis",
  schemes: ["redis", "rediss"],
  create: (url: string, options: TransportOptions) => RedisTransport.create(url, options),
}

registerAdapter(redisAdapter)

export type { RedisTransportOptions } from "./transport.ts"
export type { EntryLayout } from "./fields.ts"
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions } from "./idempotency.ts"
export { deleteGroups } from "./residue.ts"
export { topologyReport } from "./topology-report.ts"
