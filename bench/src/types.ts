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
}

export interface Session {
  /** Confirmed publish of one message (resolves on the broker's confirm / ack). */
  publish(body: Body): Promise<void>
  /** Confirmed publish of a batch. */
  publishBatch(bodies: ReadonlyArray<Body>): Promise<void>
  /** Creates the group's durable broker state so later publishes wait for it. */
  declareGroup(group: string): Promise<void>
  consume(group: string, onMessage: OnMessage, options: ConsumeOptions): Promise<Closeable>
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
