// Type-checks every adapter's declarations under the strict settings (skipLibCheck is off).
import type { AdapterFactory } from "@omnibus/core/adapter"
import { kafkaAdapter } from "@omnibus/kafka"
import { memoryAdapter } from "@omnibus/memory"
import { natsAdapter } from "@omnibus/nats"
import { protobufCodec } from "@omnibus/protobuf"
import { rabbitmqAdapter } from "@omnibus/rabbitmq"
import { redisAdapter } from "@omnibus/redis"

export const adapters: ReadonlyArray<AdapterFactory> = [memoryAdapter, rabbitmqAdapter, natsAdapter, redisAdapter, kafkaAdapter]
export const codecOf = protobufCodec
