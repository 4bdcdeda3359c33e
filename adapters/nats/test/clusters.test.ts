/**
 * The cluster fault suite (docs/clusters.md) against the three-node NATS cluster of
 * scripts/clusters/nats.sh, started by `npm run test:clusters` (scripts/clusters/test.sh),
 * which sets OMNIBUS_NATS_CLUSTER_URL and OMNIBUS_NATS_CLUSTER_NODES.
 */
import { fileURLToPath } from "node:url"
import { connect } from "@omnibus/core"
import { describeClusterFaults, scriptNodes } from "@omnibus/conformance/clusters"
import type { ClusterNode } from "@omnibus/conformance/clusters"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect as natsConnect } from "@nats-io/transport-node"
import { deleteGroups } from "../src/index.ts"

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the cluster tests with npm run test:clusters (scripts/clusters/test.sh)`)
  return v
}
const hosts = env("OMNIBUS_NATS_CLUSTER_URL").replace(/^nats:\/\//, "").split(",")
const nodes = scriptNodes(fileURLToPath(new URL("../../../scripts/clusters/nats.sh", import.meta.url)), env("OMNIBUS_NATS_CLUSTER_NODES").split(","), { partitions: true })
const hostOf = (n: ClusterNode): string => hosts[nodes.indexOf(n)]!
const byName = (name: string | undefined): ClusterNode => {
  const n = nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node named ${name} (nodes: ${nodes.map((x) => x.name).join(", ")})`)
  return n
}

describeClusterFaults("nats", {
  nodes,
  url: (order) => `nats://${order.map(hostOf).join(",")}`,
  // listed order kept (the suite chooses where each bus connects); short pull requests so a lost one is seen soon
  connect: (url, options) => connect(url, { randomizeServers: false, pullExpiresMs: 1_000, ...options }),
  // the stream the group reads (publishes go through its leader); its consumer has a leader of its own
  groupLeader: async (group) => {
    const nc = await natsConnect({ servers: hosts, timeout: 10_000 })
    try {
      const jsm = await jetstreamManager(nc)
      const stream = await jsm.streams.info("events")
      const consumer = await jsm.consumers.info("events", group.replaceAll(".", "~"))
      return {
        node: byName(stream.cluster?.leader),
        detail: `leader of stream "events" (R${stream.config.num_replicas}); the group's consumer leader ${consumer.cluster?.leader ?? "?"} (R${consumer.config.num_replicas || stream.config.num_replicas})`,
      }
    } finally {
      await nc.close()
    }
  },
  rpcLeader: async () => undefined,
  deleteGroups: (groups) => deleteGroups(`nats://${hosts.join(",")}`, groups),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 5_000,
  // C-partition: a publisher whose server's JetStream fails for 4 s moves to the next server (adapters/nats/src/connection.ts);
  // measured, not asserted: its re-sent publishes may reach the majority before it elected the stream's new leader,
  // and then wait out their 5 s try, past the 10 s cut (docs/clusters.md)
  replication: "JetStream streams with 3 replicas on file storage (several servers in the URL), consumers follow their stream",
})
