import { registerAdapter } from "@omnibus/core/adapter"
import { kafkaAdapter } from "./transport.ts"

registerAdapter(kafkaAdapter)

export { kafkaAdapter, kafkaResidue, KafkaTransport } from "./transport.ts"
export { parseConfig, topicWord, type AdapterConfig, type ConnectionConfig } from "./config.ts"
