/**
 * The two connections a component may need: RPC and events. The config
 * names them by URL only; core picks the adapter from the scheme, so no code
 * here knows which broker it talks to. One URL for both = one connection.
 */
import { connect, type Bus } from "@omnibus/core"
import type { PlatformConfig } from "./config.ts"

export interface Buses {
  readonly rpc: Bus
  readonly events: Bus
  close(): Promise<void>
}

export const openBuses = async (config: PlatformConfig): Promise<Buses> => {
  const rpc = await connect(config.rpcUrl)
  let events: Bus
  try {
    events = config.eventsUrl === config.rpcUrl ? rpc : await connect(config.eventsUrl)
  } catch (e) {
    await rpc.close()
    throw e
  }
  return {
    rpc,
    events,
    close: async () => {
      await Promise.allSettled(events === rpc ? [rpc.close()] : [rpc.close(), events.close()])
    },
  }
}
