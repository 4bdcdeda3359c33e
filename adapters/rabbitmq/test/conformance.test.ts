/**
 * The shared conformance suite against the machine's RabbitMQ, once with
 * classic group queues and once with quorum ones (separate queue prefixes, so
 * the two runs never redeclare each other's queues with another type).
 */
import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import type { ConformanceHarness } from "@omnibus/conformance"
import { deleteGroups, residue } from "../src/index.ts"
import { URL_ } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

// RabbitMQ 3.10's lease is consumer_timeout (server config, 30 min default):
// leaseMs is accepted and ignored, so a handler running 3 x 1 s is safe.
const LEASE_MS = 1_000

const harness = (options: Record<string, string>, unsupported?: ConformanceHarness["unsupported"]): ConformanceHarness => ({
  url: URL_,
  connect: (o) => connect(URL_, { ...options, ...o }),
  residue: (group) => residue(URL_, group, options),
  cleanup: (groups) => deleteGroups(URL_, groups, options),
  leaseMs: LEASE_MS,
  publishDedup: { reason: "RabbitMQ has no publish-side deduplication (without a third-party plugin); use an idempotency store" },
  // Foreign messages get content-hash ids only with the opt-in (README "Foreign message ids").
  foreign: { ...rawProducer(URL_), connect: (o) => connect(URL_, { ...options, foreignIds: "content", ...o }) },
  childProcess: { adapterModule: new URL("../src/index.ts", import.meta.url).href, url: URL_, options },
  ...(unsupported ? { unsupported } : {}),
})

describeConformance("rabbitmq", harness({ queueType: "classic" }))
describeConformance("rabbitmq-quorum", harness({ queueType: "quorum", queuePrefix: "omnibus.q." }))
