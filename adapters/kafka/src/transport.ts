/**
 * The Kafka Transport: wires the client, topology, consumers, RPC and dead
 * letters together; owns publish (batches coalesced into produce requests by
 * send-queue.ts, idempotent producer) and the lifecycle (close flushes, abort drops).
 */
import { AuthenticationFailed, BusClosed, cloudEventHeaders, ConnectionFailed, PublishFailed, simulateCrash, type Envelope } from "@omnibus/core/adapter"
import type { AdapterFactory, CloudEventsSettings, ConsumeSpec, Consumption, DeadLetterStore, Delivery, GroupSpec, Health, IncomingRequest, PublishOutcome, ServeSpec, Transport, TransportLimits, TransportOptions } from "@omnibus/core/adapter"
import { newRunState, wakeAll, type RunState } from "./batch.ts"
import { errorKind, makeKafkaClient, type KafkaClient, type OutRecord } from "./client.ts"
import { names, parseConfig, type AdapterConfig, type Names } from "./config.ts"
import { consume, declareGroup, type ConsumerDeps } from "./consumer.ts"
import { makeDeadLetterStore } from "./dead-letters.ts"
import type { EventTopics } from "./event-topics.ts"
import { Requester, serve } from "./rpc.ts"
import { SendQueue } from "./send-queue.ts"
import { Topology } from "./topology.ts"
import { toRecord } from "./wire.ts"

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export class KafkaTransport implements Transport {
  readonly name = "kafka"
  readonly limits: TransportLimits
  readonly deadLetters: DeadLetterStore
  private readonly client: KafkaClient
  private readonly names: Names
  private readonly topology: Topology
  private readonly deps: ConsumerDeps
  private readonly requester: Requester
  private readonly cloudEvents: CloudEventsSettings | undefined
  private readonly eventTopics: EventTopics
  private readonly state: RunState = newRunState()
  private readonly registry = new Set<{ readonly state: RunState; close(): Promise<void> }>()
  private readonly inflight = new Set<Promise<unknown>>()
  private closing: Promise<void> | undefined

  constructor(config: AdapterConfig, client: KafkaClient) {
    this.client = client
    this.names = names(config.prefix)
    this.topology = new Topology(client, config.partitions, config.maxPayloadBytes, (topic) => config.eventTopics.partitionsOf(topic))
    this.limits = { maxPayloadBytes: config.maxPayloadBytes }
    this.cloudEvents = config.cloudEvents
    this.eventTopics = config.eventTopics
    this.deps = {
      client,
      topology: this.topology,
      names: this.names,
      eventTopics: config.eventTopics,
      leaseMs: config.leaseMs,
      rpcLeaseMs: config.rpcLeaseMs,
      partitions: config.partitions,
      transportState: this.state,
      sends: new SendQueue(client, config.maxPayloadBytes),
      registry: this.registry,
    }
    this.deadLetters = makeDeadLetterStore(this.deps)
    this.requester = new Requester(this.deps)
  }

  private get closed(): boolean {
    return this.closing !== undefined || this.state.aborted
  }

  publish(batch: ReadonlyArray<Envelope>): Promise<ReadonlyArray<PublishOutcome>> {
    if (this.closed) return Promise.reject(new BusClosed({ operation: "publish" }))
    const p = this.doPublish(batch)
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined)
    return p
  }

  private async doPublish(batch: ReadonlyArray<Envelope>): Promise<ReadonlyArray<PublishOutcome>> {
    // Sizes were checked by core before the batch was built (message.ts).
    if (batch.length === 0) return []
    try {
      // The whole batch in one produce request per topic (one topic unless eventTopics maps keys
      // apart), with whatever other publishes wait for the topic's request in flight
      // (send-queue.ts); acks=all.
      const ce = this.cloudEvents
      const byTopic = new Map<string, Array<OutRecord>>()
      for (const e of batch) {
        const topic = this.eventTopics.topicOf(e.routingKey)
        let records = byTopic.get(topic)
        if (records === undefined) byTopic.set(topic, (records = []))
        records.push(toRecord(e, ce && cloudEventHeaders(e, "kafka", ce)))
      }
      await this.topology.ensureTopics([...byTopic.keys()])
      await Promise.all([...byTopic].map(([topic, records]) => this.deps.sends.send(topic, records)))
      return batch.map(() => ({ ok: true }))
    } catch (cause) {
      return batch.map((e) => ({ ok: false, error: new PublishFailed({ key: e.routingKey, reason: describe(cause), cause }) }))
    }
  }

  consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) return Promise.reject(new BusClosed({ operation: "consume" }))
    return consume(this.deps, spec, onDelivery)
  }

  async declareGroup(spec: GroupSpec): Promise<void> {
    if (this.closed) throw new BusClosed({ operation: "declareGroup" })
    await declareGroup(this.deps, spec)
  }

  serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption> {
    if (this.closed) return Promise.reject(new BusClosed({ operation: "serve" }))
    return serve(this.deps, spec, onRequest)
  }

  request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.closed) return Promise.reject(new BusClosed({ operation: "request" }))
    return this.requester.request(request, options)
  }

  async health(): Promise<Health> {
    if (this.closed) return { ready: false, detail: "closed" }
    try {
      await this.client.ping()
      return { ready: true }
    } catch (e) {
      return { ready: false, detail: describe(e) }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // In-flight publishes settle (confirmed or failed) before the producer goes.
      await Promise.allSettled([...this.inflight])
      await Promise.allSettled([...this.registry].map((c) => c.close()))
      await this.requester.close(true).catch(() => undefined)
      await this.client.disconnect()
    })()
    return this.closing
  }

  async [simulateCrash](): Promise<void> {
    this.state.aborted = true
    wakeAll(this.state)
    // Leaves the groups without committing anything: the broker hands the
    // uncommitted records to the remaining members.
    await this.client.disconnect()
  }
}

const connectError = (config: AdapterConfig, e: unknown): Error => {
  const reason = describe(e).replaceAll(/\/\/[^@/\s]*@/g, "//***@")
  return errorKind(e) === "auth"
    ? new AuthenticationFailed({ url: config.redacted, reason })
    : new ConnectionFailed({ url: config.redacted, reason, cause: e })
}

/** A connected client; refused credentials: AuthenticationFailed, no broker within connectTimeoutMs: ConnectionFailed. */
export const openClient = async (config: AdapterConfig): Promise<KafkaClient> => {
  const client = makeKafkaClient(config.connection)
  try {
    await client.connect(config.connectTimeoutMs)
  } catch (e) {
    await client.disconnect().catch(() => undefined)
    throw connectError(config, e)
  }
  return client
}

export const kafkaAdapter: AdapterFactory = {
  name: "kafka",
  schemes: ["kafka"],
  async create(url: string, options: TransportOptions): Promise<Transport> {
    const config = parseConfig(url, options)
    return new KafkaTransport(config, await openClient(config))
  },
}

/**
 * Broker objects left for a group (consumer groups and topics); 0 after an
 * ephemeral subscription closed. Used by the conformance residue check.
 */
export const kafkaResidue = async (url: string, group: string, options: TransportOptions = {}): Promise<number> => {
  const config = parseConfig(url, options)
  const client = await openClient(config)
  const n = names(config.prefix)
  try {
    const [groups, topics] = await Promise.all([client.listGroups(), client.listTopics()])
    const g = new Set(groups)
    const t = new Set(topics)
    return (
      [n.groupId(group), n.retryGroupId(group), n.dlqGroupId(group)].filter((x) => g.has(x)).length +
      [n.retry(group), n.dlq(group)].filter((x) => t.has(x)).length
    )
  } finally {
    await client.disconnect()
  }
}

/** Deletes what durable groups left on the broker: their consumer groups and their retry and dead-letter topics (tests, decommissioned groups). */
export const deleteGroups = async (url: string, groups: ReadonlyArray<string>, options: TransportOptions = {}): Promise<void> => {
  const config = parseConfig(url, options)
  const client = await openClient(config)
  const n = names(config.prefix)
  try {
    const topology = new Topology(client, config.partitions, config.maxPayloadBytes)
    await topology.deleteGroups(groups.flatMap((g) => [n.groupId(g), n.retryGroupId(g), n.dlqGroupId(g)]))
    await topology.deleteTopics(groups.flatMap((g) => [n.retry(g), n.dlq(g)]))
  } finally {
    await client.disconnect()
  }
}
