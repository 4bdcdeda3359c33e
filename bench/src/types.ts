/**
 * The one shape every contender (Omnibus, a raw client, the peer framework)
 * is driven through, so each workload is written once. A contender that
 * cannot do something leaves the method out and the workload records why.
 */
export type Broker = "memory" | "rabbitmq" | "nats" | "redis" | "kafka"
export type Kind = "omnibus" | "raw" | "peer"

/** The 1 KiB message: the same JSON object for every contender. */
export interface Body {
  readonly seq: number
  /** performance.now() of the publisher (same process as the consumer). */
  readonly ts: number
  readonly data: string
}

export type OnMessage = (body: Body) => void

export interface Closeable {
  close(): Promise<void>
}

export interface ConsumeOptions {
  /** Unsettled deliveries the broker may hand over. */
  readonly prefetch: number
  /** Handlers at once (Omnibus `concurrency`; raw clients handle synchronously). */
  readonly concurrency: number
  /** Selective workload: the one event type this group reads (default: the bench's single type). */
  readonly type?: string
}

/** A message of the selective workload with its event type (e.g. `sel.t07`). */
export interface Typed {
  readonly type: string
  readonly body: Body
}

export interface Session {
  /** Confirmed publish of one message (resolves on the broker's confirm / ack). */
  publish(body: Body): Promise<void>
  /** Confirmed publish of a batch. */
  publishBatch(bodies: ReadonlyArray<Body>): Promise<void>
  /** Creates the group's durable broker state so later publishes wait for it (`type`: as in ConsumeOptions). */
  declareGroup(group: string, type?: string): Promise<void>
  consume(group: string, onMessage: OnMessage, options: ConsumeOptions): Promise<Closeable>
  /**
   * Selective workload: confirmed publish of a batch of several event types,
   * each kept apart the way a careful user of the client would (routing key,
   * subject, a stream or a topic per type).
   */
  publishTyped?(items: ReadonlyArray<Typed>): Promise<void>
  /** RPC server: echoes `{ seq }`. */
  serve?(): Promise<Closeable>
  request?(seq: number): Promise<void>
  close(): Promise<void>
}

export interface Contender {
  /** "omnibus", "amqplib", "nats.js", "ioredis", "kafkajs", "platformatic-kafka", "moleculer". */
  readonly name: string
  readonly kind: Kind
  /** Why a workload is not measured for this contender (workload name → reason). */
  readonly skips: Readonly<Record<string, string>>
  /** Notes shown in the report (e.g. how publish is confirmed). */
  readonly notes?: string
  /**
   * A fresh session in a fresh namespace (stream, exchange, topic, key prefix);
   * `cleanup` removes every broker object of that namespace.
   */
  open(ns: string): Promise<Session>
  cleanup(ns: string, groups: ReadonlyArray<string>): Promise<void>
}

export const DATA = "x".repeat(1_000)
export const body = (seq: number): Body => ({ seq, ts: performance.now(), data: DATA })
/** What one message weighs on the wire as JSON (≈ 1 KiB). */
export const BODY_BYTES = Buffer.byteLength(JSON.stringify(body(99_999)))
