/**
 * The cluster fault suite (docs/clusters.md): what a three-node cluster must keep
 * when one node dies, against a cluster the caller runs (scripts/clusters/):
 *
 *   describeClusterFaults("nats", { nodes, url, connect, groupLeader, rpcLeader, ... })
 *
 * Writes conformance/results/clusters/<adapter>@<version>.json in the fault
 * results' format (conformance/src/faults/recorder.ts).
 */
import { afterAll, beforeAll, describe } from "vitest"
import { detectServer, serverLabel } from "../brokers/server.ts"
import { resultsDir } from "../results.ts"
import { FaultRecorder, writeFaultResults } from "../faults/recorder.ts"
import { registerClusterFaults } from "./cases.ts"
import { makeClusterSuite } from "./context.ts"
import type { ClusterFaultId } from "../cases.ts"
import type { ClusterHarness } from "./harness.ts"

export type { ClusterHarness, ClusterNode, Leader } from "./harness.ts"
export type { ClusterFaultId } from "../cases.ts"
export { CLUSTER_FAULTS } from "../cases.ts"
export { scriptNodes, runScript } from "./script.ts"

export const clusterResultsDir = `${resultsDir}clusters/`

/** `only`: the cases to run (default: all), e.g. a measured run of one case in another configuration. */
export const describeClusterFaults = (name: string, harness: ClusterHarness, only?: ReadonlyArray<ClusterFaultId>): void => {
  describe(`clusters: ${name}`, () => {
    const recorder = new FaultRecorder<ClusterFaultId>(name)
    const suite = makeClusterSuite(name, harness, recorder, only)
    beforeAll(async () => {
      // the version of the node listed first (a URL naming one node: detectServer parses it with URL())
      const first = harness.url(harness.nodes.slice(0, 1))
      recorder.server = await detectServer(first)
      console.log(`clusters: ${name} against ${recorder.server ? serverLabel(recorder.server) : "a broker of unknown version"}, ${harness.nodes.length} nodes`)
    }, 60_000)
    afterAll(async () => {
      const file = await writeFaultResults(recorder, suite.registered.size, clusterResultsDir)
      console.log(`cluster results for ${name}: ${file}`)
      await harness.deleteGroups?.([...suite.groups])
    }, 120_000)
    registerClusterFaults(suite)
  })
}
