/**
 * The fault suite (CONFORMANCE section G) against a private single-node
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
  // no protocol heartbeat on the client connection: health() is a metadata request
  heartbeat: { options: {}, detectWithinMs: 35_000, how: "health() metadata request (30 s request timeout)" },
  tlsOptions: (tls) => ({ tls: { ca: [tls.ca] } }),
  eventuallyMs: 60_000,
  // every consumer change is a group rebalance (seconds): fewer crashes and closes in the 2,000 steps
  modelDisruptionRate: 0.15,
  // Open in issues 6 and 9 (printed in docs/guarantees.md):
  unsupported: {
    34: "model check: after crashes some healthy messages arrive with their attempts exhausted (the crash count is announced up to 2 x prefetch records ahead of the hand-out) and are dead-lettered (issue 9)",
    "G-cut": "test limitation: the broker advertises its own port, so after bootstrap the client connects past the proxy and a proxy cut reaches only the bootstrap connection (needs a launcher that advertises the proxy's port)",
    "G-stall": "@platformatic/kafka has no connection heartbeat: a frozen link is noticed only by the 30 s request timeout (health() stays ready meanwhile); needs a shorter requestTimeout option in the adapter",
    "G-half-open": "as G-stall (and the proxy is bypassed after bootstrap, see G-cut)",
  },
})
