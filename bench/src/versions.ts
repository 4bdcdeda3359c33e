/** Broker versions, asked from the brokers themselves. */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as amqp from "amqplib"
import { connect as natsConnect } from "@nats-io/transport-node"
import { Redis } from "ioredis"
import { hostPort, ROOT } from "./env.ts"
import type { Broker } from "./types.ts"
import { rabbitmqQueueType } from "./env.ts"

const kafkaVersion = (): string => {
  if (process.env.OMNIBUS_KAFKA_VERSION) return process.env.OMNIBUS_KAFKA_VERSION
  try {
    const pid = readFileSync(join(ROOT, ".omnibus/kafka/pid"), "utf8").trim()
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8")
    const v = /kafka\/([0-9][^/]*)\/lib/.exec(cmd)?.[1]
    // The one broker setting that moves consumer latency (adapters/kafka/README.md), as the broker runs it.
    const props = readFileSync(join(ROOT, ".omnibus/kafka/run/server.properties"), "utf8")
    const linger = /^group\.coordinator\.append\.linger\.ms=(.*)$/m.exec(props)?.[1] ?? "default"
    return v ? `${v} (KRaft, single node, group.coordinator.append.linger.ms=${linger})` : "unknown"
  } catch {
    return "unknown"
  }
}

export const brokerVersion = async (broker: Broker, url: string): Promise<string> => {
  try {
    switch (broker) {
      case "memory":
        return "in-process (@omnibus/memory)"
      case "rabbitmq": {
        const conn = await amqp.connect(url)
        const props = (conn.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties ?? {}
        await conn.close()
        return `${String(props.product ?? "RabbitMQ")} ${String(props.version ?? "?")}, ${rabbitmqQueueType()} queues`
      }
      case "nats": {
        const { host, port } = hostPort(url)
        const nc = await natsConnect({ servers: `${host}:${port}` })
        const v = nc.info?.version ?? "?"
        const js = nc.info?.jetstream ? " + JetStream" : ""
        await nc.close()
        return `nats-server ${v}${js}`
      }
      case "redis": {
        const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
        await r.connect()
        const info = await r.info("server")
        r.disconnect()
        return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? "?"}`
      }
      case "kafka":
        return `Apache Kafka ${kafkaVersion()}`
    }
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`
  }
}
