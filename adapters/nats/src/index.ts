/**
 * @omnibus/nats: Omnibus over NATS (JetStream events, core NATS RPC).
 * URLs: nats://[user:pass@|token@]host:port, tls://host:port.
 * Importing this module registers it, so `connect("nats://...")` finds it.
 * Effect users: `layer` from `@omnibus/nats/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import type { AdapterFactory, Transport, TransportOptions } from "@omnibus/core/adapter"
import { NatsTransport } from "./transport.ts"

/** The adapter behind nats:// and tls:// (registered on import). */
export const natsAdapter: AdapterFactory = {
  name: "nats",
  schemes: ["nats", "tls"],
  create: (url: string, options: TransportOptions): Promise<Transport> => NatsTransport.create(url, options),
}

registerAdapter(natsAdapter)

export { topologyReport } from "./topology-report.ts"

/**
 * How many broker objects (consumers named after the group, durable or
 * ephemeral, on the events and replay streams) exist for a group.
 */
export const groupResidue = async (url: string, group: string, options: TransportOptions = {}): Promise<number> => {
  const t = await NatsTransport.create(url, options)
  try {
    return await t.countGroupConsumers(group)
  } finally {
    await t.close()
  }
}

/** Deletes what durable groups left on the server (tests, decommissioned consumers). */
export const deleteGroups = async (url: string, groups: ReadonlyArray<string>, options: TransportOptions = {}): Promise<void> => {
  const t = await NatsTransport.create(url, options)
  try {
    for (const g of groups) {
      await t.deadLetters.purge(g)
      await t.deleteGroup(g)
    }
  } finally {
    await t.close()
  }
}
