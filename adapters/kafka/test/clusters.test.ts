/**
 * The cluster fault suite (docs/clusters.md) against the three-node Kafka cluster of
 * scripts/clusters/kafka.sh, started by `npm run test:clusters` (scripts/clusters/test.sh),
 * which sets OMNIBUS_KAFKA_CLUSTER_URL and OMNIBUS_KAFKA_CLUSTER_NODES (node ids).
 */
import { fileURLToPath } from "node:url"
import { Admin } from "@platformatic/kafka"
import { connect } from "@omnibus/core"
import { describeClusterFaults, scriptNodes } from "@omnibus/conformance/clusters"
import type { ClusterNode, Leader } from "@omnibus/conformance/clusters"
import { names } from "../src/config.ts"
import { deleteGroups } from "../src/index.ts"

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the cluster tests with npm run test:clusters (scripts/clusters/test.sh)`)
  return v
}
const url = env("OMNIBUS_KAFKA_CLUSTER_URL")
const hosts = url.replace(/^kafka:\/\//, "").split(",")
const nodes = scriptNodes(fileURLToPath(new URL("../../../scripts/clusters/kafka.sh", import.meta.url)), env("OMNIBUS_KAFKA_CLUSTER_NODES").split(","), { partitions: true })
const hostOf = (n: ClusterNode): string => hosts[nodes.indexOf(n)]!
const n = names("omnibus")

/** The leader of a topic's partition 0, with its replicas and in-sync replicas, asked of any live broker. */
const partitionLeader = async (topic: string): Promise<Leader> => {
  const admin = new Admin({ clientId: "omnibus-cluster-test", bootstrapBrokers: hosts, retries: 5 })
  try {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true })
    const partitions = md.topics.get(topic)?.partitions ?? []
    const p0 = partitions[0]
    if (p0 === undefined) throw new Error(`topic ${topic} has no partitions`)
    const node = nodes.find((x) => x.name === String(p0.leader))
    if (!node) throw new Error(`topic ${topic}: leader ${p0.leader} is not one of the nodes`)
    const led = new Map<number, number>()
    for (const p of partitions) led.set(p.leader, (led.get(p.leader) ?? 0) + 1)
    return {
      node,
      detail: `leader of partition 0 of ${topic} (replicas [${p0.replicas.join(", ")}], in sync [${p0.isr.join(", ")}]; partitions led per node ${[...led].map(([id, c]) => `${id}: ${c}`).join(", ")})`,
    }
  } finally {
    await admin.close()
  }
}

describeClusterFaults("kafka", {
  nodes,
  url: (order) => `kafka://${order.map(hostOf).join(",")}`,
  connect: (u, options) => connect(u, { connectTimeoutMs: 30_000, ...options }),
  // every group reads the one events topic: the node leading its partition 0 (it leads about a third of them)
  groupLeader: () => partitionLeader(n.events),
  rpcLeader: (method) => partitionLeader(n.rpc(method)),
  deleteGroups: (groups) => deleteGroups(url, groups),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 6_000,
  replication: "topics with replication factor 3 and min.insync.replicas 2 (three brokers), acks=all, idempotent producer",
  // C-model: a kill stalls the partitions it led for about 10 s (fenced after 9 s), a restart takes 30–40 s, every consumer change is a rebalance
  model: { steps: 600, kills: 1, disruptionRate: 0.15 },
})
