/**
 * The fault suite (section G of docs/conformance.md) against a private single-node
 * KRaft Kafka the suite starts, kills (-9) and restarts (jars from
 * scripts/kafka.sh fetch; see conformance/src/brokers/kafka.ts). TLS and
 * credentials: SASL_SSL with PLAIN.
 */
import { connect } from "@omnibus/core"
import { launchKafka } from "@omnibus/conformance/brokers"
import { describeFaults } from "@omnibus/conformance/faults"
import "../src/index.ts"

describeFaults("kafka", {
  launch: (options) => launchKafka(options).then(async (l) => { await l.start(); return l }),
  connect: (url, options) => connect(url, { connectTimeoutMs: 20_000, ...options }),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  // group session: a killed consumer's partitions move after it
  leaseMs: 2_000,
  // Kafka has no connection heartbeat: the adapter's own (heartbeatMs) probes on a client of its own
  // and destroys every connection when a probe goes unanswered; health() is a probe with the same deadline.
  heartbeat: { options: { heartbeatMs: 1_000 }, detectWithinMs: 4_000, how: "heartbeatMs 1 s: metadata probe, every connection dropped when unanswered; health() probe with a 1 s deadline" },
  tlsOptions: (tls) => ({ tls: { ca: [tls.ca] } }),
  eventuallyMs: 60_000,
  // every consumer change is a group rebalance (seconds): fewer crashes and closes in the 2,000 steps
  modelDisruptionRate: 0.15,
  unsupported: {
  },
})
