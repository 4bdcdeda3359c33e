/**
 * The options and message shapes users see, shared by the Effect service
 * (./effect.ts) and the Promise facade (./promise.ts).
 */
import type * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"
import type { Codec } from "./codec.ts"
import type { IdempotencyStore } from "./idempotency.ts"
import type { EventContract, RpcContract } from "./contract.ts"

export interface PublishOptions {
  /** Ordering / partition key. */
  readonly key?: string
  readonly headers?: Readonly<Record<string, string>>
  /** Message id; defaults to a fresh UUID v7. Same id = same message (dedup). */
  readonly id?: string
  readonly correlationId?: string
  /**
   * When the event happened (a Date or milliseconds since the epoch); defaults to the publish time.
   * Consumers see it as `Message.timestamp`. A relay publishing later (an outbox) keeps the original time.
   */
  readonly timestamp?: Date | number
}

export interface PublishReceipt {
  readonly id: string
}

/** One message of `publishBatch`: a routing key (with an optional codec), or a typed contract like `publish` takes. */
export type BatchEntry<T = unknown> =
  | { readonly key: string; readonly payload: T; readonly options?: PublishOptions; readonly codec?: Codec<T> }
  | { readonly key: EventContract<T>; readonly payload: T; readonly options?: PublishOptions; readonly codec?: never }

export type BatchResult =
  | { readonly ok: true; readonly id: string }
  | { readonly ok: false; readonly error: import("./errors.ts").PublishError }

/** What a handler receives. */
export interface Message<T> {
  readonly id: string
  /** The concrete key the message was published with (also through wildcards). */
  readonly routingKey: string
  readonly key: string | undefined
  readonly payload: T
  readonly body: Uint8Array
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId: string | undefined
  /** Milliseconds since the epoch: the publisher's `timestamp` option, else when it was published. */
  readonly timestamp: number
  /**
   * 1 on the first try, then 1 + the handler failures recorded for this message: the same
   * number on every broker. A consumer crash does not count as an attempt (see `redeliveries`).
   */
  readonly attempt: number
  /**
   * How often this attempt came back without an outcome: its consumer crashed, lost its lease
   * or gave it back. 0 normally; above 0 the handler may have run partly before.
   */
  readonly redeliveries: number
  readonly group: string
}

export type Handler<T> = (message: Message<T>) => Promise<void> | void

export interface BackoffOptions {
  /** First retry delay, e.g. "200 millis" or 200 (ms). */
  readonly initial?: Duration.Input
  readonly factor?: number
  /** Cap on a single delay. */
  readonly max?: Duration.Input
  /** Spread each delay randomly (×0.8–1.2) so retries do not stampede. */
  readonly jitter?: boolean
}

export interface RetryOptions {
  /** Total handler attempts, including the first (default 5). */
  readonly attempts?: number
  /** Backoff options, or any effect Schedule (its delays are used; its end means "dead-letter"). */
  readonly backoff?: BackoffOptions | Schedule.Schedule<unknown, unknown>
  /**
   * Crashes a message may cause before it is dead-lettered as poison with RedeliveriesExhausted
   * (default 5; 0 acts as 1). Counted apart from attempts, and only where the message is the
   * culprit: a redelivered message runs alone in its consumer, and only a crash during such a run
   * counts (the first crash among other handlers counts for none of them). Messages sent back by a
   * crash they did not cause are never charged.
   */
  readonly maxRedeliveries?: number
}

export interface IdempotencyOptions {
  readonly store: IdempotencyStore
  /** How long a "handled" mark is kept (default 24 h). */
  readonly ttl?: Duration.Input
  /** How long an in-progress claim lasts before another consumer may take over (default 30 s). */
  readonly lease?: Duration.Input
}

export interface SubscribeOptions<T = unknown> {
  /** Same group = competing consumers; another group = its own copy. Omit for a broadcast (ephemeral) subscription. */
  readonly group?: string
  /** Handlers running at once (default 1). */
  readonly concurrency?: number
  /** Unsettled deliveries the broker may hand over (default: concurrency; 4 × concurrency when ordered). */
  readonly prefetch?: number
  /** Retry policy (default 5 attempts, 200 ms × 2, max 30 s, jitter); false = no retries. */
  readonly retry?: RetryOptions | false
  /** Send exhausted or permanent failures to the group's dead-letter destination (default true). false = drop them. */
  readonly deadLetter?: boolean
  /** "key": per-key FIFO with concurrency > 1; retries then happen in place. */
  readonly orderBy?: "key"
  /** Handle each message id once per group. */
  readonly idempotency?: IdempotencyStore | IdempotencyOptions
  /** Payload codec; default: chosen by each message's content type. */
  readonly codec?: Codec<T>
  /** Receives every outcome (handled, retry, dead-letter, duplicate, ...): metrics, logs, test spies. */
  readonly observe?: (event: import("./consume/events.ts").HandlerEvent) => void
  /** Wraps this subscription's handler, inside the bus middleware (./middleware.ts). */
  readonly middleware?: ReadonlyArray<import("./middleware.ts").Middleware>
}

export interface RequestOptions<Res = unknown> {
  readonly timeout?: Duration.Input
  readonly headers?: Readonly<Record<string, string>>
  readonly codec?: Codec<unknown>
  readonly responseCodec?: Codec<Res>
}

export interface HandleOptions<Req = unknown> {
  /** Servers in one group share the requests (default: the method name). */
  readonly group?: string
  readonly concurrency?: number
  readonly codec?: Codec<Req>
  readonly responseCodec?: Codec<unknown>
  /** Wraps this server's handler, inside the bus middleware (./middleware.ts). */
  readonly middleware?: ReadonlyArray<import("./middleware.ts").Middleware>
}

/** What `connect` takes besides the adapter's own options. */
export interface BusOptions {
  /** Around every publish, handle, request and serve of this bus, outermost first (./middleware.ts). */
  readonly middleware?: ReadonlyArray<import("./middleware.ts").Middleware>
  /** Where Omnibus logs (pino's shape); default: Effect's logger, warnings and errors only. */
  readonly logger?: import("./logger.ts").Logger
}

export interface Request<T> {
  readonly id: string
  readonly method: string
  readonly payload: T
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId: string | undefined
}

export interface Subscription {
  readonly group: string
  /** Stops taking messages, waits for running handlers, acks what succeeded. */
  close(): Promise<void>
}

export interface Reply<T> {
  readonly payload: T
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId: string | undefined
  readonly contentType: string
}

/** A dead letter as users see it: the original message plus why it failed. */
export interface DeadLetterRecord {
  readonly id: string
  readonly routingKey: string
  readonly key: string | undefined
  readonly body: Uint8Array
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly timestamp: number
  readonly failure: import("./transport.ts").FailureMetadata
}

export interface DeadLetters {
  list(group: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<DeadLetterRecord>>
  replay(group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }): Promise<number>
  purge(group: string): Promise<number>
}


/** The Promise API (`connect()` returns it); a thin shell over the Effect `Bus` service. */
export interface Bus {
  /** The adapter's name ("memory", "rabbitmq", ...). */
  readonly transport: string
  publish<T>(contract: EventContract<T>, payload: T, options?: PublishOptions): Promise<PublishReceipt>
  publish(key: string, payload: unknown, options?: PublishOptions & { readonly codec?: Codec<unknown> }): Promise<PublishReceipt>
  /** One outcome per entry; valid entries are delivered even when others are rejected. */
  publishBatch(entries: ReadonlyArray<BatchEntry>): Promise<ReadonlyArray<BatchResult>>
  subscribe<T>(contract: EventContract<T>, handler: Handler<T>, options?: Omit<SubscribeOptions<T>, "codec">): Promise<Subscription>
  subscribe<T = unknown>(patterns: string | ReadonlyArray<string>, handler: Handler<T>, options?: SubscribeOptions<T>): Promise<Subscription>
  request<Req, Res>(contract: RpcContract<Req, Res>, payload: Req, options?: Omit<RequestOptions<Res>, "codec" | "responseCodec">): Promise<Res>
  request<Res = unknown>(method: string, payload: unknown, options?: RequestOptions<Res>): Promise<Res>
  /** Like request, with the reply's headers and correlation id. */
  requestReply<Res = unknown>(method: string, payload: unknown, options?: RequestOptions<Res>): Promise<Reply<Res>>
  handle<Req, Res>(contract: RpcContract<Req, Res>, handler: (request: Request<Req>) => Res | Promise<Res>, options?: Omit<HandleOptions<Req>, "codec" | "responseCodec">): Promise<Subscription>
  handle<Req = unknown>(method: string, handler: (request: Request<Req>) => unknown, options?: HandleOptions<Req>): Promise<Subscription>
  /**
   * Creates a durable group bound to the patterns without consuming (provisioning ahead of the first
   * consumer): what is published from then on waits for the group's subscribers.
   */
  declareGroup<T>(contract: EventContract<T>, options: { readonly group: string }): Promise<void>
  declareGroup(patterns: string | ReadonlyArray<string>, options: { readonly group: string }): Promise<void>
  readonly deadLetters: DeadLetters
  health(): Promise<import("./transport.ts").Health>
  /** Drains running handlers, flushes publishes, disconnects. */
  close(): Promise<void>
}
