import { Bus as BusLayer } from "@omnibus/core/effect"
/**
 * @omnibus/rabbitmq: the RabbitMQ adapter (amqp://, amqps://). Importing this
 * module registers it, so `connect("amqp://...")` finds it.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import type { AdapterFactory, Transport, TransportOptions } from "@omnibus/core/adapter"
import { RabbitTransport } from "./transport.ts"

export { RabbitTransport, type RabbitOptions } from "./transport.ts"
export { Topology } from "./topology.ts"
export { deleteGroups, residue } from "./residue.ts"
export { parseSettings, type ForeignIds, type QueueType, type RabbitSettings } from "./options.ts"

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

/**
 * For Effect users: a Layer providing the `Bus` service (from @omnibus/core/effect)
 * on this broker, drained and closed when the Layer's scope ends.
 */
export const layer = (url = "amqp://guest:guest@127.0.0.1:5672", options: import("@omnibus/core").TransportOptions = {}) => BusLayer.layerFromUrl(url, options)
