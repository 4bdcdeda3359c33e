/**
 * The cluster fault suite (docs/clusters.md) against the three-node RabbitMQ cluster of
 * scripts/clusters/rabbitmq.sh, started by `npm run test:clusters` (scripts/clusters/test.sh),
 * which sets OMNIBUS_RABBITMQ_CLUSTER_URL and OMNIBUS_RABBITMQ_CLUSTER_NODES.
 */
import { fileURLToPath } from "node:url"
import { connect } from "@omnibus/core"
import { describeClusterFaults, runScript, scriptNodes } from "@omnibus/conformance/clusters"
import type { ClusterNode, Leader } from "@omnibus/conformance/clusters"
import { deleteGroups } from "../src/index.ts"

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the cluster tests with npm run test:clusters (scripts/clusters/test.sh)`)
  return v
}
const url = env("OMNIBUS_RABBITMQ_CLUSTER_URL")
const prefix = /^amqp:\/\/[^@/]*@/.exec(url)?.[0] ?? "amqp://"
const hosts = url.slice(prefix.length).split(",")
const script = fileURLToPath(new URL("../../../scripts/clusters/rabbitmq.sh", import.meta.url))
const nodes = scriptNodes(script, env("OMNIBUS_RABBITMQ_CLUSTER_NODES").split(","), { partitions: true })
const hostOf = (n: ClusterNode): string => hosts[nodes.indexOf(n)]!

/** The leader, members and online members of a queue, asked of the first node that answers (rabbitmqctl). */
const queueLeader = async (queue: string): Promise<Leader> => {
  let lastError: unknown
  for (let i = 1; i <= nodes.length; i++) {
    try {
      const out = await runScript(script, "ctl", String(i), "list_queues", "name", "leader", "members", "online", "-s")
      const line = out.split("\n").find((l) => l.split("\t")[0] === queue)
      if (!line) throw new Error(`queue ${queue} not listed by node ${i}`)
      const [, leader, members, online] = line.split("\t")
      const node = nodes.find((n) => n.name === leader)
      if (!node) throw new Error(`queue ${queue}: leader ${leader} is not one of the nodes`)
      return { node, detail: `leader of quorum queue ${queue}, members ${members}, online ${online}` }
    } catch (e) {
      lastError = e
    }
  }
  throw lastError
}

describeClusterFaults("rabbitmq", {
  nodes,
  url: (order) => `${prefix}${order.map(hostOf).join(",")}`,
  connect: (u, options) => connect(u, { reconnectMaxDelayMs: 1_000, ...options }),
  groupLeader: (group) => queueLeader(`omnibus.${group}`),
  rpcLeader: (method, group) => queueLeader(`omnibus.rpc/${method}/${group}`),
  deleteGroups: (groups) => deleteGroups(url, groups),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 5_000,
  // C-partition: the cut-off node pauses (pause_minority, scripts/clusters/rabbitmq.sh) and closes its
  // connections, the adapter moves on to the next host; measured, not asserted: the first confirm on the
  // majority side came 9.9 s into the 10 s cut (tick detection, then a new leader for the quorum queue)
  replication: "quorum queues with x-quorum-initial-group-size 3 (several hosts in the URL), RPC queues quorum too",
})
