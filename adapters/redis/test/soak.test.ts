/** Soak against the machine's Redis (size: OMNIBUS_SOAK_MESSAGES, default 20,000; `npm run soak`: 200,000). */
import { connect } from "@omnibus/core"
import { describeSoak } from "@omnibus/conformance/soak"
import "../src/index.ts"
import { dropNamespace, REDIS_URL, testNamespace } from "./helpers.ts"

const namespace = testNamespace()

describeSoak("redis", {
  // Publish-side dedup markers (a hash field per message, kept 2 to 4 minutes): off, as at high rates in production.
  connect: () => connect(REDIS_URL, { namespace, dedupWindowMs: 0 }),
  cleanup: () => dropNamespace(namespace),
})
