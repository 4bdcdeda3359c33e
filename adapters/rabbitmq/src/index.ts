/**
 * @omnibus/rabbitmq: the RabbitMQ adapter (amqp://, amqps://). Importing this
 * module registers it, so `connect("amqp://...")` finds it.
 * Effect users: `layer` from `@omnibus/rabbitmq/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import type { AdapterFactory, Transport, TransportOptions } from "@omnibus/core/adapter"
import { RabbitTransport } from "./transport.ts"

export type { RabbitOptions } from "./transport.ts"
export type { ForeignIds, QueueType } from "./options.ts"
export { deleteGroups, residue } from "./residue.ts"
export { topologyReport } from "./topology-report.ts"

/** The adapter behind amqp:// and amqps:// (registered on import). */
export const rabbitmqAdapter: AdapterFactory = {
  name: "rabbitmq",
  schemes: ["amqp", "amqps"],
  async create(url: string, options: TransportOptions): Promise<Transport> {
    const transport = new RabbitTransport(url, options)
    await transport.start()
    return transport
  },
}

registerAdapter(rabbitmqAdapter)
