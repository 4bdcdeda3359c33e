/**
 * The topology report of an in-process broker (core's TopologyReport): one
 * queue per group with its ready and unacked messages and consumers, the
 * delayed retries it holds, its dead letters, and the servers of each RPC
 * method. A broker lives in one process: another process sees none.
 */
import { InvalidOptions, reportedNames, type BrokerObject, type TopologyReporter } from "@omnibus/core/adapter"
import { existingBroker } from "./broker.ts"
import { brokerNameOf } from "./transport.ts"

export const topologyReport: TopologyReporter = async (url, query = {}) => {
  if (query.namespace !== undefined) throw new InvalidOptions({ option: "namespace", reason: "memory:// has none: the URL names the broker (memory://name)" })
  const name = brokerNameOf(url)
  const broker = existingBroker(name)
  const groups = reportedNames(broker?.groups.keys() ?? [], query.groups).map((group) => {
    const q = broker?.groups.get(group)
    if (q === undefined) return { group, objects: [] }
    const objects: Array<BrokerObject> = [
      { kind: "queue", name: group, role: "group", messages: q.ready.length + q.unacked.size, ready: q.ready.length, unacked: q.unacked.size, consumers: q.consumers.length },
      { kind: "queue", name: `${group} (delayed retries)`, role: "retry", messages: q.timers.size },
      { kind: "queue", name: `${group} (dead letters)`, role: "dead-letters", messages: q.deadLetters.length },
    ]
    return { group, patterns: q.patterns, ephemeral: q.ephemeral, objects }
  })
  const methods = reportedNames(broker?.servers.keys() ?? [], query.methods).map((method) => {
    const servers = broker?.servers.get(method)?.length ?? 0
    return { method, objects: servers > 0 ? [{ kind: "queue" as const, name: method, role: "servers" as const, consumers: servers }] : [] }
  })
  return {
    transport: "memory",
    namespace: `broker "${name}"`,
    shared: [],
    groups,
    methods,
    notes: broker === undefined ? [`no broker "${name}" in this process (an in-process broker is seen only by the process that runs it)`] : [],
  }
}
