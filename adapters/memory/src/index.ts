import { registerAdapter } from "@omnibus/core"
import { memoryAdapter } from "./transport.ts"

registerAdapter(memoryAdapter)

export { memoryAdapter, MemoryTransport } from "./transport.ts"
export { MemoryBroker, brokerNamed } from "./broker.ts"
