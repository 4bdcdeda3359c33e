/**
 * The topology report on RabbitMQ (core's TopologyReport), over AMQP only: the
 * management API is not assumed to be enabled. AMQP cannot list queues, so
 * the groups and methods to report are named by the caller; each of their
 * queues (names from topology.ts) is looked up with a passive declare, which
 * gives its ready messages and consumers. Unacknowledged messages are not
 * told over AMQP.
 */
import type { BrokerObject, TopologyReporter } from "@omnibus/core/adapter"
import { checkQueue, lookup, withAdminConnection } from "./admin.ts"
import type { ConnectionManager } from "./connection.ts"
import { Topology } from "./topology.ts"
import type { RabbitOptions } from "./transport.ts"

const queueObject = (name: string, role: BrokerObject["role"], r: Awaited<ReturnType<typeof checkQueue>>): BrokerObject | undefined => {
  if ("missing" in r) return undefined
  // An exclusive queue of another connection: an ephemeral subscription's, whose counts the broker keeps to its owner.
  if ("exclusive" in r) return { kind: "queue", name, role, detail: "exclusive to another connection (an ephemeral subscription)" }
  // Nobody consumes a dead-letter queue (dead-letters.ts reads it with unacked gets): all it holds is stored.
  const depth = role === "dead-letters" ? { messages: r.found.messageCount } : { ready: r.found.messageCount }
  return { kind: "queue", name, role, ...depth, consumers: r.found.consumerCount }
}

const queue = async (manager: ConnectionManager, name: string, role: BrokerObject["role"]): Promise<BrokerObject | undefined> =>
  queueObject(name, role, await checkQueue(manager, name))

const exchange = async (manager: ConnectionManager, name: string, role: BrokerObject["role"], type: string): Promise<BrokerObject | undefined> => {
  const r = await lookup(manager, `check exchange ${name}`, (ch) => ch.checkExchange(name))
  return "found" in r ? { kind: "exchange", name, role, detail: type } : undefined
}

const withDetail = (o: BrokerObject | undefined, detail: string): BrokerObject | undefined => (o === undefined || o.detail !== undefined ? o : { ...o, detail })

const present = (objects: ReadonlyArray<BrokerObject | undefined>): ReadonlyArray<BrokerObject> => objects.filter((o) => o !== undefined)

export const topologyReport: TopologyReporter = (url, query = {}, options: RabbitOptions = {}) =>
  withAdminConnection(url, query.namespace === undefined ? options : { ...options, queuePrefix: `${query.namespace}.` }, async (manager, settings) => {
    const topology = new Topology(settings)
    const shared = present([
      await exchange(manager, settings.exchange, "events", "topic"),
      await exchange(manager, settings.rpcExchange, "requests", "direct"),
    ])
    const groups = []
    for (const group of [...new Set(query.groups ?? [])].sort()) {
      const main = await checkQueue(manager, topology.groupQueue(group))
      const objects = present([
        queueObject(topology.groupQueue(group), "group", main),
        withDetail(await queue(manager, topology.delayQueue(group), "retry"), "retries held by consumers until due count as unacked, not here"),
        await queue(manager, topology.deadLetterQueue(group), "dead-letters"),
      ])
      groups.push({ group, ...("exclusive" in main ? { ephemeral: true } : {}), objects })
    }
    const methods = []
    for (const method of [...new Set(query.methods ?? [])].sort()) {
      methods.push({ method, objects: present([await queue(manager, topology.rpcQueue(method, method), "requests")]) })
    }
    const notes = [
      "AMQP cannot list queues: groups and methods are looked up by the names given (--group, --method); a method's queue is its default group's",
      "AMQP does not tell unacknowledged messages (the management API does; it is not used)",
    ]
    return {
      transport: "rabbitmq",
      namespace: `queue prefix "${settings.queuePrefix}", exchange "${settings.exchange}"`,
      shared,
      groups,
      methods,
      notes,
    }
  })
