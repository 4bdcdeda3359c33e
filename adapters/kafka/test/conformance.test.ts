import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import { kafkaResidue } from "../src/index.ts"
import { kafkaUrl } from "./broker.ts"
import { rawKafka, rawProducer } from "./raw-producer.ts"

// Started (or reused) before the suite registers its cases; the URL is read lazily by each connect.
const url = kafkaUrl()

describeConformance("kafka", {
  url,
  connect: (options) => connect(url, { ...options }),
  residue: (group) => kafkaResidue(url, group),
  leaseMs: 2_000,
  // Group rebalances take seconds; retries ride a topic consumed in batches.
  timing: { eventuallyMs: 30_000, backoffToleranceMs: 1_000 },
  publishDedup: {
    reason: "Kafka's idempotent producer drops only its own retried batches (producer id + sequence), not a re-publish of the same message id; use an idempotency store",
  },
  // The adapter's default topic prefix ("omnibus"): connect above passes none.
  foreign: rawProducer(rawKafka(url), "omnibus"),
  childProcess: { adapterModule: new URL("../src/index.ts", import.meta.url).href, url, options: {} },
})
