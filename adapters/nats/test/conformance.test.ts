import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import { deleteGroups, groupResidue } from "../src/index.ts"
import { NATS_URL } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

// The broker's redelivery deadline (consumer ack_wait) for every bus of the run: crash cases wait
// for redelivery after it, and case 30 runs handlers for 3x it while in-progress acks keep the lease.
const LEASE_MS = 1_000
const OPTIONS = { connectTimeoutMs: 5_000, leaseMs: LEASE_MS }

describeConformance("nats", {
  url: NATS_URL,
  connect: (options) => connect(NATS_URL, { ...OPTIONS, ...options, leaseMs: options?.leaseMs ?? LEASE_MS }),
  residue: (group) => groupResidue(NATS_URL, group),
  cleanup: (groups) => deleteGroups(NATS_URL, groups),
  leaseMs: LEASE_MS,
  publishDedup: true,
  foreign: rawProducer(NATS_URL),
  childProcess: { adapterModule: new URL("../src/index.ts", import.meta.url).href, url: NATS_URL, options: OPTIONS },
})
