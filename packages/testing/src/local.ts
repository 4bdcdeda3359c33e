/**
 * The fallback of startBroker when no Docker engine is reachable: a private
 * broker process from the machine's own binaries (rabbitmq-server,
 * nats-server, redis-server, Kafka's jars on Java), started by the launchers
 * of `@omnibus/conformance/brokers` on free 127.0.0.1 ports with a temp data dir.
 */
import { launchKafka, launchNats, launchRabbitmq, launchRedis, type Launcher } from "@omnibus/conformance/brokers"
import type { BrokerKind, StartedBroker } from "./broker.ts"

const launchers: Record<BrokerKind, () => Promise<Launcher>> = {
  rabbitmq: () => launchRabbitmq(),
  nats: () => launchNats(),
  redis: () => launchRedis(),
  kafka: () => launchKafka(),
}

const programs: Record<BrokerKind, string> = {
  rabbitmq: "rabbitmq-server",
  nats: "nats-server",
  redis: "redis-server",
  kafka: "kafka.Kafka (java)",
}

const withTimeout = async (work: Promise<void>, ms: number, what: string): Promise<void> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not serving after ${ms} ms`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

export const startLocal = async (kind: BrokerKind, timeoutMs: number, reason: string): Promise<StartedBroker> => {
  const launcher = await launchers[kind]()
  try {
    await withTimeout(launcher.start(), timeoutMs, `local ${kind}`)
  } catch (e) {
    await launcher.stop()
    throw e
  }
  return {
    kind,
    url: launcher.url,
    via: "local",
    reason,
    source: programs[kind],
    restart: async () => {
      if (launcher.running) await launcher.shutdown()
      await launcher.start()
    },
    kill: () => launcher.kill9(),
    stop: () => launcher.stop(),
  }
}
