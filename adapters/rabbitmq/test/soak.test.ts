/** Soak against the machine's RabbitMQ (size: OMNIBUS_SOAK_MESSAGES, default 20,000; `npm run soak`: 200,000). */
import { connect } from "@omnibus/core"
import { describeSoak } from "@omnibus/conformance/soak"
import { deleteGroups } from "../src/index.ts"
import "../src/index.ts"
import { URL_ } from "./helpers.ts"

describeSoak("rabbitmq", {
  connect: () => connect(URL_),
  cleanup: (groups) => deleteGroups(URL_, groups),
})
