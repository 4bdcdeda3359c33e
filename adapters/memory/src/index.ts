import { Bus as BusLayer } from "@omnibus/core/effect"
import { registerAdapter } from "@omnibus/core/adapter"
import { memoryAdapter } from "./transport.ts"

registerAdapter(memoryAdapter)

export { memoryAdapter, MemoryTransport } from "./transport.ts"
export { MemoryBroker, brokerNamed } from "./broker.ts"
// The type of MemoryBroker's public `servers` map.
export type { RpcServer } from "./broker.ts"

/**
 * For Effect users: a Layer providing the `Bus` service (from @omnibus/core/effect)
 * on this broker, drained and closed when the Layer's scope ends.
 */
export const layer = (url = "memory://", options: import("@omnibus/core").TransportOptions = {}) => BusLayer.layerFromUrl(url, options)
