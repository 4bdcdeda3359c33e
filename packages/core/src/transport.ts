/**
 * The Transport port: the whole surface an adapter implements. It is small on
 * purpose: retries, backoff, dead-letter decisions, idempotency, ordering,
 * concurrency limits, codecs and RPC error mapping live in core and run the
 * same on every broker. An adapter moves envelopes with the broker's own
 * primitives and reports what the broker knows (delivery attempt, confirms).
 *
 * Promise-based so that adapters wrap their client libraries directly; core
 * lifts every call into Effect. Errors an adapter throws should be the typed
 * classes from ./errors.ts; anything else is wrapped by core.
 * See docs/writing-an-adapter.md.
 */
import type { Envelope } from "./envelope.ts"
import type { PublishFailed } from "./errors.ts"

export interface Transport {
  /** Adapter name, e.g. "rabbitmq". */
  readonly name: string
  readonly limits: TransportLimits

  /**
   * Publishes a batch and resolves once the broker has durably accepted each
   * entry (confirm, PubAck, produce ack, XADD reply), one outcome per entry in
   * order. Pipelines the batch; never one round trip per message. Rejects only
   * when nothing could be attempted (closed transport): then with BusClosed.
   *
   * `onOutcome`, when given, may be called with an entry's index and outcome
   * as soon as that entry is settled (a confirm or PubAck of its own), before
   * the rest of the batch; the promise still resolves with every outcome.
   * Core resolves each publish on its first outcome, so a coalesced batch of
   * publishes refills as its confirms arrive instead of after the last.
   */
  publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>>

  /**
   * Starts consuming for a group. The broker state for the group (queue,
   * consumer group, durable consumer) is created if missing and bound to the
   * patterns, so messages published afterwards wait for the group even while
   * no consumer runs. At most `prefetch` deliveries are unsettled at once.
   * While a delivery is unsettled the adapter keeps its lease alive (in-progress
   * acks, claim keep-alives...) so the broker does not redeliver it elsewhere.
   */
  consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption>

  /** Creates the group's broker state without consuming (an "offline group"): `bus.declareGroup`. */
  declareGroup(spec: GroupSpec): Promise<void>

  /** Serves an RPC method: requests are shared by the servers of one group. */
  serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption>

  /**
   * Sends a request and resolves with the reply envelope (matched by
   * `request.correlationId`). Rejects with NoResponders where the broker can
   * tell; stops waiting (and forgets the request) when `signal` aborts. The
   * deadline is core's alone (rpc/client.ts): it aborts `signal` after
   * `timeoutMs` and raises RequestTimeout itself, so an adapter keeps no timer
   * of its own; `timeoutMs` is for a broker-side expiry of the request message.
   */
  request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope>

  readonly deadLetters: DeadLetterStore

  health(): Promise<Health>

  /** Graceful: flushes in-flight publishes (each confirmed or rejected), then disconnects. */
  close(): Promise<void>
}

/**
 * Crash simulation for tests, kept out of the port: an adapter that offers it implements this
 * key (drop the connection now, settle nothing), and `crash(bus)` from @omnibus/core/testing calls it.
 */
export const simulateCrash: unique symbol = Symbol.for("@omnibus/core/simulateCrash")

/**
 * `Delivery.beginSolo`'s rejection when the delivery stopped being this consumer's before it
 * ran (its partition was revoked, its lease taken over): core gives it back without running or
 * judging it, since its next owner delivers it again. Judging it by the broker's count instead
 * would charge it for every rebalance it sat through.
 */
export class DeliveryLost extends Error {
  constructor(message: string) {
    super(message)
    this.name = "DeliveryLost"
  }
}

export interface Crashable {
  [simulateCrash](): Promise<void>
}

export interface TransportLimits {
  /** Largest payload the adapter accepts; core rejects bigger ones before sending. */
  readonly maxPayloadBytes: number
}

/** Sizes are checked by core before a batch reaches the transport, so a refusal is a PublishFailed. */
export type PublishOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: PublishFailed }

/** Told one entry's outcome (its index in the batch) as soon as the broker settled it (Transport.publish). */
export type OnPublishOutcome = (index: number, outcome: PublishOutcome) => void

export interface GroupSpec {
  /** Group name (validated like a routing-key word sequence). */
  readonly group: string
  /** AMQP topic patterns, already validated. */
  readonly patterns: ReadonlyArray<string>
  /**
   * Ephemeral (broadcast) subscriptions: the adapter removes every piece of
   * broker state for the group when the consumption closes.
   */
  readonly ephemeral: boolean
}

export interface ConsumeSpec extends GroupSpec {
  /** Most unsettled deliveries handed to onDelivery at once. */
  readonly prefetch: number
}

export interface Delivery {
  readonly envelope: Envelope
  /**
   * 1 + the handler failures recorded for this message (each `retry` adds one; the adapter
   * carries the count across redeliveries, e.g. in a header). Crashes do not add to it.
   */
  readonly attempt: number
  /**
   * Deliveries of this attempt that ended without an outcome before this one (consumer crash,
   * lost lease, release): the broker's redelivery count since the last `retry`. 0 normally.
   */
  readonly redeliveries: number
  /** When this message first failed, if it did before (carried across retries). */
  readonly firstFailureAt: number | undefined
  /**
   * Called by core right before a redelivered message runs alone in a handler
   * (packages/core/src/isolation.ts): durably counts the solo run, so that a crash during it
   * is charged to this message only, and resolves with how many earlier solo runs of this
   * attempt ended without an outcome. Adapters clear the count when the delivery settles.
   * Optional: without it core falls back to `redeliveries`, which also charges the messages
   * a crash sent back untouched. Rejects with `DeliveryLost` when the delivery is no longer
   * this consumer's; any other rejection means the count could not be written.
   */
  beginSolo?(): Promise<number>
  /** Done: remove from the group. */
  ack(): Promise<void>
  /**
   * Handler failed: redeliver to the group after `delayMs` with attempt + 1,
   * without blocking other messages of the group meanwhile.
   */
  retry(options: { readonly delayMs: number; readonly firstFailureAt: number }): Promise<void>
  /** Give back unprocessed (closing): redeliver to the group as soon as possible. */
  release(): Promise<void>
  /** Move to the group's dead-letter destination with failure metadata, then ack. */
  deadLetter(failure: FailureMetadata): Promise<void>
}

export interface FailureMetadata {
  readonly error: string
  readonly errorName: string
  readonly errorCode?: string | undefined
  readonly attempts: number
  readonly firstFailureAt: number
  readonly lastFailureAt: number
  readonly group: string
}

export interface Consumption {
  /** Stop taking new deliveries; unsettled ones can still be settled. */
  stop(): Promise<void>
  /** Release the consumer (and, if ephemeral, its broker state). Call after stop. */
  close(): Promise<void>
}

export interface ServeSpec {
  /** Method name (a routing key, no wildcards). */
  readonly method: string
  readonly group: string
  readonly concurrency: number
}

export interface IncomingRequest {
  readonly envelope: Envelope
  /** Sends the reply (correlationId already set by core) to the requester. */
  reply(reply: Envelope): Promise<void>
  /** Settle the request message (for brokers where requests are acked). */
  done(): Promise<void>
}

export interface DeadLetter {
  readonly envelope: Envelope
  readonly failure: FailureMetadata
}

export interface DeadLetterStore {
  /** Oldest first. */
  list(group: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<DeadLetter>>
  /**
   * Sends dead letters back to their group, under their original routing key
   * and id, with the attempt count reset; removes them from the dead-letter
   * destination. Only the group's consumers see them again (not every group
   * bound to the key). Returns how many were replayed.
   */
  replay(group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }): Promise<number>
  /** Drops dead letters; returns how many. */
  purge(group: string): Promise<number>
}

export interface Health {
  readonly ready: boolean
  readonly detail?: string
}

/** How a URL scheme becomes a Transport; registered by each adapter package. */
export interface AdapterFactory {
  readonly name: string
  readonly schemes: ReadonlyArray<string>
  create(url: string, options: TransportOptions): Promise<Transport>
}

/** Options every adapter understands (adapters add their own). */
export interface TransportOptions {
  /** Stop retrying the initial connection after this long. */
  readonly connectTimeoutMs?: number
  /** The broker-side redelivery deadline the adapter configures/extends (ack wait, claim idle). */
  readonly leaseMs?: number
  readonly maxPayloadBytes?: number
  /**
   * Also make every published event a CloudEvent in binary content mode of the
   * broker's protocol binding (default false; packages/core/src/cloudevents.ts).
   * Brokers only: the in-memory adapter has no wire and ignores it.
   */
  readonly cloudEvents?: boolean
  /** The CloudEvents `source` attribute (default omnibus://<adapter>/<exchange, stream or namespace>). */
  readonly cloudEventsSource?: string
  /** Adapter-specific settings. */
  readonly [option: string]: unknown
}
