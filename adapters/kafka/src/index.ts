/**
 * @omnibus/kafka: Omnibus over Apache Kafka (kafka://).
 * Importing this module registers it, so `connect("kafka://...")` finds it.
 * Effect users: `layer` from `@omnibus/kafka/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import { kafkaAdapter } from "./transport.ts"

registerAdapter(kafkaAdapter)

export { deleteGroups, kafkaAdapter, kafkaResidue } from "./transport.ts"
export { topologyReport } from "./topology-report.ts"
