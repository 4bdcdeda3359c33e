/**
 * The fault suite (section G of docs/conformance.md) against a private redis-server the
 * suite starts, kills (-9) and restarts: append-only file fsynced on every
 * write, so every confirmed publish survives the kill.
 */
import { connect } from "@omnibus/core"
import { launchRedis } from "@omnibus/conformance/brokers"
import { describeFaults } from "@omnibus/conformance/faults"
import "../src/index.ts"

describeFaults("redis", {
  launch: (options) => launchRedis(options).then(async (l) => { await l.start(); return l }),
  connect: (url, options) => connect(url, { connectTimeoutMs: 10_000, ...options }),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 1_000,
  // Redis has no protocol heartbeat: the adapter PINGs every heartbeatMs and reconnects when unanswered.
  heartbeat: { options: { heartbeatMs: 1_000 }, detectWithinMs: 4_000, how: "heartbeatMs 1 s: PING on the command connection, reconnect all when unanswered; health() PING with a 2 s deadline" },
  tlsOptions: (tls) => ({ tls: { ca: tls.ca } }),
  // Nothing declared: the model check (case 34) passes since crashes count as redeliveries, not attempts
  // (docs/conformance.md). A fault declared here is printed in docs/guarantees.md with its reason.
  unsupported: {
  },
})
