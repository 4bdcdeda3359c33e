/**
 * The two connections a component may need: RPC and events. The config
 * names them by URL only; core picks the adapter from the scheme, so no code
 * here knows which broker it talks to. One URL for both = one connection.
 * When the config turns tracing on, both carry the component's tracing
 * middleware (tracing/setup.ts), which the buses' close shuts down.
 */
import { connect, type Bus } from "@omnibus/core"
import type { Tracer } from "@opentelemetry/api"
import type { PlatformConfig } from "./config.ts"
import { startTracing, type ComponentIdentity } from "./tracing/setup.ts"

export interface Buses {
  readonly rpc: Bus
  readonly events: Bus
  /** The component's tracer for spans of its own; undefined when tracing is off. */
  readonly tracer: Tracer | undefined
  close(): Promise<void>
}

export const openBuses = async (config: PlatformConfig, component: ComponentIdentity): Promise<Buses> => {
  const tracing = startTracing(config.tracing, component)
  const options = { middleware: tracing.middleware }
  let rpc: Bus | undefined
  let events: Bus
  try {
    rpc = await connect(config.rpcUrl, options)
    events = config.eventsUrl === config.rpcUrl ? rpc : await connect(config.eventsUrl, options)
  } catch (e) {
    await rpc?.close()
    await tracing.shutdown()
    throw e
  }
  const opened = rpc
  return {
    rpc: opened,
    events,
    tracer: tracing.tracer,
    close: async () => {
      await Promise.allSettled(events === opened ? [opened.close()] : [opened.close(), events.close()])
      await tracing.shutdown()
    },
  }
}
