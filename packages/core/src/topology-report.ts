/**
 * What Omnibus created on a broker for one namespace, as each adapter reports
 * it (`topologyReport`, exported by every adapter package from its
 * topology-report.ts; `omnibus topology` prints it): exchanges, queues,
 * streams, consumers, topics, consumer groups and keys, per group and per RPC
 * method, with the depths and consumer counts the broker tells. A number the
 * broker cannot tell is absent, never a guessed 0.
 */
import type { TransportOptions } from "./transport.ts"

/** "subject": the messages of one subject in a stream (NATS). */
export type BrokerObjectKind = "exchange" | "queue" | "stream" | "subject" | "consumer" | "topic" | "consumer-group" | "key"

/** What an object is for in Omnibus' mapping (docs/architecture.md; each adapter's README). */
export type BrokerObjectRole =
  /** Where events are published (exchange, stream, topic); shared by every group. */
  | "events"
  /** What a group consumes from: its queue, consumer, consumer group, stream. */
  | "group"
  /** Messages of a group waiting for a delayed retry. */
  | "retry"
  | "dead-letters"
  /** Dead letters sent back to a group (NATS). */
  | "replay"
  /** Adapter bookkeeping: first-failure times (NATS), oversized payloads (NATS), group bindings (Redis). */
  | "bookkeeping"
  /** Requests of an RPC method, or where they are published. */
  | "requests"
  /** Live servers of an RPC method (Redis). */
  | "servers"
  /** Replies on their way back to one requesting client. */
  | "replies"

export interface BrokerObject {
  readonly kind: BrokerObjectKind
  /** The broker's name for it. */
  readonly name: string
  readonly role: BrokerObjectRole
  /** Messages stored: queue or stream length, records in a topic. */
  readonly messages?: number
  /** Messages waiting for the group, not yet delivered to any of its consumers. */
  readonly ready?: number
  /** Delivered to a consumer, not yet acknowledged. */
  readonly unacked?: number
  /** Records of the topic the consumer group has not committed yet (Kafka). */
  readonly lag?: number
  /** Consumers attached: AMQP consumers, Redis group consumers, Kafka group members, RPC servers. */
  readonly consumers?: number
  /** Pull requests waiting on the server (NATS). */
  readonly waiting?: number
  /** Anything else the broker tells: filter subject, partitions, exclusivity. */
  readonly detail?: string
}

export interface GroupTopology {
  readonly group: string
  /** Routing-key patterns the group is bound to, where the broker keeps them. */
  readonly patterns?: ReadonlyArray<string>
  /** True for an ephemeral subscription's group, where the broker tells. */
  readonly ephemeral?: boolean
  /** Empty when a group asked for by name has nothing on the broker. */
  readonly objects: ReadonlyArray<BrokerObject>
}

export interface MethodTopology {
  readonly method: string
  readonly objects: ReadonlyArray<BrokerObject>
}

export interface TopologyReport {
  /** The adapter's name ("rabbitmq", ...). */
  readonly transport: string
  /** The names' root as the adapter spells it, e.g. `queue prefix "omnibus.", exchange "events"`. */
  readonly namespace: string
  /** Objects every group shares: the events exchange, stream or topic, the RPC exchange, dead-letter streams. */
  readonly shared: ReadonlyArray<BrokerObject>
  /** By group name. */
  readonly groups: ReadonlyArray<GroupTopology>
  /** RPC methods with state on the broker, by method name. */
  readonly methods: ReadonlyArray<MethodTopology>
  /** What the broker could not tell, e.g. that AMQP cannot list queues. */
  readonly notes: ReadonlyArray<string>
}

export interface TopologyQuery {
  /**
   * The namespace to report, in the adapter's one naming option: the Redis `namespace`, the
   * Kafka topic prefix, the RabbitMQ queue prefix (`<namespace>.`), the NATS events stream.
   * Default: what the URL and options give (the adapter's defaults).
   */
  readonly namespace?: string
  /** Only these groups. RabbitMQ cannot list queues over AMQP: there, the groups to look up. */
  readonly groups?: ReadonlyArray<string>
  /** Only these RPC methods; on RabbitMQ, the methods to look up. */
  readonly methods?: ReadonlyArray<string>
}

/** `topologyReport` of every adapter package: reads, never creates or changes anything. */
export type TopologyReporter = (url: string, query?: TopologyQuery, options?: TransportOptions) => Promise<TopologyReport>

/**
 * The names a report covers, sorted: the ones asked for (present or not: a
 * group asked for by name and missing is worth saying), else all found.
 */
export const reportedNames = (found: Iterable<string>, wanted: ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  [...new Set(wanted ?? found)].sort()
