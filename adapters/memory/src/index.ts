/**
 * @omnibus/memory: Omnibus on an embedded in-process broker (memory://<name>).
 * Importing this module registers it, so `connect("memory://")` finds it.
 * Effect users: `layer` from `@omnibus/memory/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import { memoryAdapter, MemoryTransport } from "./transport.ts"

registerAdapter(memoryAdapter)

export { memoryAdapter }
export { topologyReport } from "./topology-report.ts"

/**
 * 1 while the in-process broker called `broker` still holds `group` (its queue,
 * durable or not), else 0: lets a test check that an ephemeral subscription
 * left nothing behind.
 */
export const residue = (broker: string, group: string): number => MemoryTransport.residue(broker, group)
