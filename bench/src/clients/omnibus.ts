/**
 * Omnibus through its public Promise API, exactly as users write it:
 * connect(url, options), publish / publishBatch, subscribe with a group,
 * handle / request. The options give each run its own namespace and, on
 * Kafka, map each selective-workload type to a topic of its own (eventTopics:
 * what a user does for groups that read one type among many).
 */
import { connect, type Bus, type Middleware } from "@omnibus/core"
import type { Body, Broker, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { cleanupAmqp, cleanupKafka, cleanupNats, cleanupRedis } from "./cleanup.ts"
import { rabbitmqQueueType } from "../env.ts"
import { SELECTIVE_TYPES, selectiveType } from "../config.ts"
import { RPC_TIMEOUT_MS } from "./pending-replies.ts"

/**
 * connect() finds an adapter by the URL's scheme and imports it from the
 * working directory's package (core's registry.ts importFromApp): run from the
 * repository root, whose package.json lists no adapter, that import fails. An
 * application importing its adapter package once (which registers the scheme)
 * always works, so the bench does that.
 */
const ADAPTERS: Record<Broker, () => Promise<unknown>> = {
  memory: () => import("@omnibus/memory"),
  rabbitmq: () => import("@omnibus/rabbitmq"),
  nats: () => import("@omnibus/nats"),
  redis: () => import("@omnibus/redis"),
  kafka: () => import("@omnibus/kafka"),
}

/**
 * OMNIBUS_BENCH_TRACING=on measures Omnibus with openTelemetry() on an SDK that records every span and
 * metric (exported nowhere, so the exporter's I/O is not what is measured): the cost of tracing on.
 */
const tracing = async (): Promise<{ readonly middleware?: ReadonlyArray<Middleware> }> => {
  if (process.env.OMNIBUS_BENCH_TRACING !== "on") return {}
  const [{ openTelemetry }, { TracerProvider, BatchSpanProcessor, InMemorySpanExporter }, { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality }] = await Promise.all([
    import("@omnibus/core/opentelemetry"),
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/sdk-metrics"),
  ])
  const exporter = new InMemorySpanExporter()
  setInterval(() => exporter.reset(), 1_000).unref()
  const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] })
  const metrics = new InMemoryMetricExporter(AggregationTemporality.DELTA)
  setInterval(() => metrics.reset(), 1_000).unref()
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 1_000 })] })
  return { middleware: [openTelemetry({ tracerProvider, meterProvider })] }
}

const KEY = "bench.msg"
const METHOD = "bench.echo"

/** Per-namespace adapter options (documented options of each adapter). */
const target = (broker: Broker, url: string, ns: string): { url: string; options: Record<string, unknown> } => {
  switch (broker) {
    case "memory":
      // memory://<name> is a separate in-process broker per name.
      return { url: `memory://${ns}`, options: {} }
    case "rabbitmq":
      return { url, options: { exchange: `${ns}.events`, queuePrefix: `${ns}.`, connectionName: `bench-${ns}`, queueType: rabbitmqQueueType() } }
    case "nats":
      return {
        url,
        options: {
          stream: ns,
          deadLetterStream: `${ns}-dlq`,
          replayStream: `${ns}-replay`,
          failureStream: `${ns}-fail`,
          blobStream: `${ns}-blob`,
          rpcPrefix: `${ns}-rpc`,
          connectionName: `bench-${ns}`,
        },
      }
    case "redis":
      return { url, options: { prefix: "omnibus-bench:", namespace: ns } }
    case "kafka":
      return {
        url: `${url}${url.includes("?") ? "&" : "?"}prefix=${ns}`,
        options: {
          clientId: `bench-${ns}`,
          // one partition per type topic, as the kafkajs contender's (bench/src/clients/kafkajs.ts)
          eventTopics: Object.fromEntries(Array.from({ length: SELECTIVE_TYPES }, (_, k) => [selectiveType(k), { topic: `${ns}-${selectiveType(k)}`, partitions: 1 }])),
        },
      }
  }
}

class OmnibusSession implements Session {
  private readonly bus: Bus
  constructor(bus: Bus) {
    this.bus = bus
  }
  async publish(body: Body): Promise<void> {
    await this.bus.publish(KEY, body)
  }
  publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    return this.publishTyped(bodies.map((body) => ({ type: KEY, body })))
  }
  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    const results = await this.bus.publishBatch(items.map((x) => ({ key: x.type, payload: x.body })))
    for (const r of results) if (!r.ok) throw r.error
  }
  async declareGroup(group: string, type = KEY): Promise<void> {
    // The public API has no declareGroup: a subscription creates the group's
    // broker state; closing it keeps the (durable) group and its messages.
    const sub = await this.bus.subscribe(type, () => {}, { group, prefetch: 1 })
    await sub.close()
  }
  consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    return this.bus.subscribe<Body>(o.type ?? KEY, (m) => onMessage(m.payload), { group, prefetch: o.prefetch, concurrency: o.concurrency, retry: false })
  }
  serve() {
    return this.bus.handle<{ seq: number }>(METHOD, (r) => ({ seq: r.payload.seq }), { concurrency: 64 })
  }
  async request(seq: number): Promise<void> {
    await this.bus.request(METHOD, { seq }, { timeout: RPC_TIMEOUT_MS })
  }
  close(): Promise<void> {
    return this.bus.close()
  }
}

export const omnibus = (broker: Broker, url: string): Contender => ({
  name: "omnibus",
  kind: "omnibus",
  skips: broker === "memory" ? { memory: "the in-process broker keeps the backlog inside the consumer's own process", selective: "the in-process broker reads no socket" } : {},
  async open(ns) {
    await ADAPTERS[broker]()
    const t = target(broker, url, ns)
    return new OmnibusSession(await connect(t.url, { ...t.options, ...(await tracing()) }))
  },
  async cleanup(ns, groups) {
    switch (broker) {
      case "memory":
        return
      case "rabbitmq":
        return cleanupAmqp(url, { exchanges: [`${ns}.events`, `${ns}.rpc`], queues: groups.flatMap((g) => [`${ns}.${g}`, `${ns}.${g}/delay`, `${ns}.${g}/dlq`]) })
      case "nats":
        return cleanupNats(url, ns)
      case "redis":
        return cleanupRedis(url, `omnibus-bench:{${ns}}:`)
      case "kafka":
        return cleanupKafka(url, ns)
    }
  },
})
