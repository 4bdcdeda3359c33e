/**
 * The fault suite (section G of docs/conformance.md) against a private nats-server with
 * JetStream file storage, which the suite starts, kills (-9) and restarts.
 */
import { connect } from "@omnibus/core"
import { launchNats } from "@omnibus/conformance/brokers"
import { describeFaults } from "@omnibus/conformance/faults"
import "../src/index.ts"

describeFaults("nats", {
  launch: (options) => launchNats(options).then(async (l) => { await l.start(); return l }),
  connect: (url, options) => connect(url, { connectTimeoutMs: 10_000, pullExpiresMs: 1_000, ...options }),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 1_000,
  // nats.js pings every pingIntervalMs and drops the link after 3 unanswered pings; health() flushes with a 2 s deadline.
  heartbeat: { options: { pingIntervalMs: 1_000 }, detectWithinMs: 4_000, how: "PING every 1 s (3 outstanding = stale); health() flush with a 2 s deadline" },
  tlsOptions: (tls) => ({ tls: { caFile: tls.caFile } }),
  // Nothing declared: the model check (case 34) passes since crashes count as redeliveries, not attempts
  // (docs/conformance.md). A fault declared here is printed in docs/guarantees.md with its reason.
  unsupported: {
  },
})
