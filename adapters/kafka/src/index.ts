/**
 * @omnibus/kafka: Omnibus over Apache Kafka (kafka://).
 * Importing this module registers it, so `connect("kafka://...")` finds it.
 * Effect users: `layer` from `@omnibus/kafka/effect`.
 */
import { registerAdapter } from "@omnibus/core/adapter"
import { kafkaAdapter } from "./transport.ts"

registerAdapter(kafkaAdapter)

export { kafkaAdapter, kafkaResidue } from "./transport.ts"
