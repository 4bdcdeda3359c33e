/** Soak against the machine's NATS (size: OMNIBUS_SOAK_MESSAGES, default 20,000; `npm run soak`: 200,000). */
import { connect } from "@omnibus/core"
import { describeSoak } from "@omnibus/conformance/soak"
import { deleteGroups } from "../src/index.ts"
import "../src/index.ts"
import { NATS_URL } from "./helpers.ts"

describeSoak("nats", {
  connect: () => connect(NATS_URL, { connectTimeoutMs: 5_000 }),
  cleanup: (groups) => deleteGroups(NATS_URL, groups),
})
