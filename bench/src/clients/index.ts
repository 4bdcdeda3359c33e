/**
 * Who runs against each broker: Omnibus, the raw client(s), the peer
 * framework. Loaded lazily so a memory-workload child process only loads the
 * one client it measures.
 */
import type { Broker, Contender } from "../types.ts"

export const CONTENDERS: Record<Broker, ReadonlyArray<string>> = {
  memory: ["omnibus"],
  // amqplib-ids: raw amqplib sending Omnibus's per-event properties (message id, ms timestamp), clients/amqplib.ts
  rabbitmq: ["omnibus", "amqplib", "amqplib-ids", "moleculer"],
  // nats.js-ackack: raw nats.js with server-confirmed acks, as Omnibus acks, clients/natsjs.ts
  nats: ["omnibus", "nats.js", "nats.js-ackack", "moleculer"],
  // ioredis-dedup: raw ioredis with Omnibus's guarantees (dedup marker, a stream per group), clients/ioredis.ts;
  // ioredis-careful: ioredis-dedup with Omnibus's metadata per entry and per-message async handling and acks
  redis: ["omnibus", "ioredis", "ioredis-dedup", "ioredis-careful", "moleculer"],
  // platformatic-kafka-ids: raw @platformatic/kafka sending Omnibus's per-event headers, clients/platformatic.ts
  kafka: ["omnibus", "kafkajs", "platformatic-kafka", "platformatic-kafka-ids", "moleculer"],
}

export const load = async (broker: Broker, url: string, name: string): Promise<Contender> => {
  switch (name) {
    case "omnibus":
      return (await import("./omnibus.ts")).omnibus(broker, url)
    case "amqplib":
      return (await import("./amqplib.ts")).amqplibRaw(url)
    case "amqplib-ids":
      return (await import("./amqplib.ts")).amqplibIds(url)
    case "nats.js":
      return (await import("./natsjs.ts")).natsRaw(url)
    case "nats.js-ackack":
      return (await import("./natsjs.ts")).natsAckAck(url)
    case "ioredis":
      return (await import("./ioredis.ts")).ioredisRaw(url)
    case "ioredis-dedup":
      return (await import("./ioredis.ts")).ioredisDedup(url)
    case "ioredis-careful":
      return (await import("./ioredis.ts")).ioredisCareful(url)
    case "kafkajs":
      return (await import("./kafkajs.ts")).kafkajsRaw(url)
    case "platformatic-kafka":
      return (await import("./platformatic.ts")).platformaticRaw(url)
    case "platformatic-kafka-ids":
      return (await import("./platformatic.ts")).platformaticIds(url)
    case "moleculer":
      return (await import("./moleculer.ts")).moleculerPeer(broker, url)
    default:
      throw new Error(`bench: no contender "${name}"`)
  }
}

export const contenders = (broker: Broker, url: string): Promise<Array<Contender>> => Promise.all(CONTENDERS[broker].map((n) => load(broker, url, n)))
