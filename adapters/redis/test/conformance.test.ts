import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import { Redis } from "ioredis"
import { afterAll } from "vitest"
import "../src/index.ts"
import { Keys } from "../src/keys.ts"
import { residue } from "../src/topology.ts"
import { dropNamespace, REDIS_URL, testNamespace } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

// One namespace per run: the run's bindings never route into other runs' groups.
const namespace = testNamespace()
const probe = new Redis(REDIS_URL)
const LEASE_MS = 1_000

afterAll(async () => {
  probe.disconnect()
  await dropNamespace(namespace)
})

describeConformance("redis", {
  url: REDIS_URL,
  connect: (options) => connect(REDIS_URL, { namespace, ...options, leaseMs: options?.leaseMs ?? LEASE_MS }),
  residue: (group) => residue(probe, new Keys({ prefix: "omnibus:", namespace }), group),
  leaseMs: LEASE_MS,
  publishDedup: true,
  foreign: rawProducer(REDIS_URL, namespace),
  childProcess: { adapterModule: new URL("../src/index.ts", import.meta.url).href, url: REDIS_URL, options: { namespace, leaseMs: LEASE_MS } },
})
