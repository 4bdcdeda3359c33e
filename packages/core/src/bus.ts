/**
 * The Bus, as Effect values: the one implementation of the public API, wired
 * from its parts (publish.ts, consume/, rpc/client.ts, rpc/server.ts). The
 * Promise facade (promise.ts) runs these effects, except for the per-message
 * calls (publish, request), whose Promise functions the Effect methods wrap
 * and the facade calls directly; Effect users get the same through the `Bus`
 * service (effect.ts).
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type {
  BusOptions,
  BatchEntry,
  BatchResult,
  DeadLetterRecord,
  HandleOptions,
  Message,
  PublishOptions,
  PublishReceipt,
  Reply,
  Request,
  RequestOptions,
  SubscribeOptions,
  Subscription,
} from "./api.ts"
import { json, type Codec } from "./codec.ts"
import { isEventContract, isRpcContract, type EventContract, type RpcContract } from "./contract.ts"
import { makeEngine } from "./consume/engine.ts"
import type { HandlerEvent } from "./consume/events.ts"
import { Settler } from "./consume/settle.ts"
import { toMillis } from "./duration.ts"
import { newMessageId } from "./envelope.ts"
import {
  asPublishError,
  asRequestError,
  BrokerError,
  BusClosed,
  describeError,
  InvalidOptions,
  InvalidPattern,
  PayloadTooLarge,
  type PublishError,
  type RequestError,
  type SubscribeError,
} from "./errors.ts"
import type { IdempotencyStore } from "./idempotency.ts"
import { provideRuntime } from "./lazy.ts"
import { makeErrorsYieldable } from "./tagged-error.ts"
import { effectLogger, isLogger, safeLogger } from "./logger.ts"
import { hooksOf } from "./middleware.ts"
import { publishMany, publishOne, type PublishDeps } from "./publish.ts"
import { Publisher } from "./publisher.ts"
import { retryPolicy } from "./retry.ts"
import { routingKeyProblem, validatePattern, validateRoutingKey } from "./routing.ts"
import { request as sendRequest, type ClientDeps } from "./rpc/client.ts"
import { serve } from "./rpc/server.ts"
import type { DeadLetter, Health, Transport } from "./transport.ts"

// retry.ts and duration.ts use these through lazy.ts: a bus hands over its own imports (no require());
// the errors become Effects that fail with themselves (errors.ts).
provideRuntime({ Duration, Effect, Exit, Option, Schedule })
makeErrorsYieldable(Data.Error)

/** A handler as Effect users write it; Promise handlers are lifted by the facade. */
export type EffectHandler<T> = (message: Message<T>) => Effect.Effect<void, unknown>
export type EffectRpcHandler<Req, Res> = (request: Request<Req>) => Effect.Effect<Res, unknown>

/** Runs an effect as a Promise that rejects with the failure itself (the tagged error), not a wrapper. */
export const runToPromise = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

/**
 * The Promise function behind a handler the facade lifted into Effect: the bus
 * calls it directly, so a Promise user's message never runs through a fiber
 * (one fiber per message cost more than the rest of the engine together).
 */
const promiseHandlers = new WeakMap<object, (arg: never) => Promise<unknown>>()

export const liftPromiseHandler = <T>(f: (arg: T) => unknown): ((arg: T) => Effect.Effect<unknown, unknown>) => {
  // What `async (arg) => f(arg)` gives (a sync throw rejects, a thenable is adopted), without an
  // async frame per call: a handler's own promise is passed through as it is.
  const direct = (arg: T): Promise<unknown> => {
    try {
      const result = f(arg)
      return result instanceof Promise ? result : Promise.resolve(result)
    } catch (e) {
      return Promise.reject(e)
    }
  }
  const lifted = (arg: T) => Effect.tryPromise({ try: () => direct(arg), catch: (e) => e })
  promiseHandlers.set(lifted, direct as (arg: never) => Promise<unknown>)
  return lifted
}

const asPromise = <T, A>(handler: (arg: T) => Effect.Effect<A, unknown>): ((arg: T) => Promise<A>) =>
  (promiseHandlers.get(handler) as ((arg: T) => Promise<A>) | undefined) ?? ((arg: T) => runToPromise(Effect.suspend(() => handler(arg))))

/**
 * Promise versions of the per-message calls, for the facade. The Effect methods
 * wrap these same functions: one implementation, and no fiber per publish or
 * request for Promise users.
 */
export interface BusPromises {
  readonly publish: (key: string | EventContract<unknown>, payload: unknown, options?: PublishOptions & { readonly codec?: Codec<unknown> }) => Promise<PublishReceipt>
  readonly requestReply: <Res>(method: string | RpcContract<unknown, Res>, payload: unknown, options?: RequestOptions<Res>) => Promise<Reply<Res>>
}

const promisesOfShape = new WeakMap<BusShape, BusPromises>()

export const busPromisesOf = (shape: BusShape): BusPromises | undefined => promisesOfShape.get(shape)

const transportOfShape = new WeakMap<BusShape, Transport>()

/** The transport behind a Bus (crash simulation in @omnibus/core/testing); kept off BusShape, whose users never need the port. */
export const transportOf = (shape: BusShape): Transport | undefined => transportOfShape.get(shape)

export type SubscribeEffectOptions<T> = SubscribeOptions<T>

export interface BusShape {
  /** The adapter's name (`rabbitmq`, `nats`...), as on the Promise Bus. */
  readonly transport: string
  readonly publish: (key: string | EventContract<unknown>, payload: unknown, options?: PublishOptions & { readonly codec?: Codec<unknown> }) => Effect.Effect<PublishReceipt, PublishError>
  readonly publishBatch: (entries: ReadonlyArray<BatchEntry>) => Effect.Effect<ReadonlyArray<BatchResult>, BusClosed | InvalidOptions>
  readonly subscribe: <T>(
    patterns: string | ReadonlyArray<string> | EventContract<T>,
    handler: EffectHandler<T>,
    options?: SubscribeEffectOptions<T>,
  ) => Effect.Effect<Subscription, SubscribeError, Scope.Scope>
  readonly requestReply: <Res>(method: string | RpcContract<unknown, Res>, payload: unknown, options?: RequestOptions<Res>) => Effect.Effect<Reply<Res>, RequestError>
  readonly handle: <Req, Res>(
    method: string | RpcContract<Req, Res>,
    handler: EffectRpcHandler<Req, Res>,
    options?: HandleOptions<Req>,
  ) => Effect.Effect<Subscription, SubscribeError, Scope.Scope>
  readonly declareGroup: (patterns: string | ReadonlyArray<string> | EventContract<unknown>, options: { readonly group: string }) => Effect.Effect<void, SubscribeError>
  readonly deadLetters: {
    readonly list: (group: string, options?: { readonly limit?: number }) => Effect.Effect<ReadonlyArray<DeadLetterRecord>, BrokerError | InvalidOptions>
    readonly replay: (group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }) => Effect.Effect<number, BrokerError | InvalidOptions>
    readonly purge: (group: string) => Effect.Effect<number, BrokerError | InvalidOptions>
  }
  readonly health: Effect.Effect<Health>
  readonly close: Effect.Effect<void>
}

/** Lifts a transport call; non-Omnibus errors become BrokerError naming the operation. */
const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, BrokerError> =>
  Effect.tryPromise({
    try: f,
    catch: (e) => (e instanceof BrokerError ? e : new BrokerError({ operation, reason: describeError(e).message, cause: e })),
  })

const positiveInt = (option: string, value: number | undefined, fallback: number): number => {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1) throw new InvalidOptions({ option, reason: `must be an integer >= 1 (got ${String(value)})` })
  return v
}

const groupProblem = (group: string): InvalidOptions | undefined => {
  const reason = typeof group === "string" ? routingKeyProblem(group) : "is not a string"
  return reason === undefined ? undefined : new InvalidOptions({ option: "group", reason: `${JSON.stringify(group)} ${reason}` })
}

const isCodec = (c: unknown): boolean =>
  typeof c === "object" && c !== null && typeof (c as Codec<unknown>).contentType === "string" && typeof (c as Codec<unknown>).encode === "function" && typeof (c as Codec<unknown>).decode === "function"

/** Dead-letter admin calls name a group and maybe a limit: both checked before the broker is asked. */
const checkAdmin = (group: string, limit: number | undefined): Effect.Effect<void, InvalidOptions> => {
  const bad = groupProblem(group)
  if (bad) return Effect.fail(bad)
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) return Effect.fail(new InvalidOptions({ option: "limit", reason: "must be an integer >= 1" }))
  return Effect.void
}

const DAY_MS = 24 * 60 * 60 * 1_000

const idempotencyConfig = (o: IdempotencyStore | { readonly store: IdempotencyStore; readonly ttl?: unknown; readonly lease?: unknown } | undefined) => {
  if (o === undefined) return undefined
  if ("claim" in o) return { store: o, ttlMs: DAY_MS, leaseMs: 30_000 }
  return {
    store: o.store,
    ttlMs: o.ttl === undefined ? DAY_MS : toMillis("idempotency.ttl", o.ttl as never),
    leaseMs: o.lease === undefined ? 30_000 : toMillis("idempotency.lease", o.lease as never),
  }
}

/** What the Bus adds around a transport: middleware and a logger. */
export type BusConfig = BusOptions

const middlewareProblem = (option: string, m: unknown): InvalidOptions | undefined =>
  m === undefined || (Array.isArray(m) && m.every((x) => typeof x === "object" && x !== null))
    ? undefined
    : new InvalidOptions({ option, reason: "must be an array of middleware objects" })

/** Checks bus-level options before anything connects. */
export const busConfigProblem = (config: BusConfig): InvalidOptions | undefined =>
  middlewareProblem("middleware", config.middleware) ??
  (config.logger === undefined || isLogger(config.logger) ? undefined : new InvalidOptions({ option: "logger", reason: "must have debug, info, warn and error functions" }))

/** The patterns a subscription or declared group binds: one, several, or a contract's key; each checked. */
const patternsOf = (patternsOrContract: unknown): Array<string> | InvalidPattern => {
  if (isEventContract(patternsOrContract)) return [patternsOrContract.key]
  if (typeof patternsOrContract !== "string" && !Array.isArray(patternsOrContract)) {
    return new InvalidPattern({ pattern: String(patternsOrContract), reason: "patterns must be a string, an array of strings or an event contract" })
  }
  const patterns: Array<string> = typeof patternsOrContract === "string" ? [patternsOrContract] : [...(patternsOrContract as ReadonlyArray<string>)]
  if (patterns.length === 0) return new InvalidPattern({ pattern: "", reason: "no pattern given" })
  for (const p of patterns) {
    const bad = validatePattern(p)
    if (bad) return bad
  }
  return patterns
}

const toRecord = (d: DeadLetter): DeadLetterRecord => ({
  id: d.envelope.id,
  routingKey: d.envelope.routingKey,
  key: d.envelope.key,
  body: d.envelope.payload,
  contentType: d.envelope.contentType,
  headers: d.envelope.headers,
  timestamp: d.envelope.timestamp,
  failure: d.failure,
})

/** Builds the Bus over a connected transport. */
export const makeBus = (transport: Transport, config: BusConfig = {}): Effect.Effect<BusShape> =>
  Effect.sync(() => {
    const publisher = new Publisher(transport)
    const open = new Set<Scope.Closeable>()
    let closed = false
    const max = transport.limits.maxPayloadBytes
    const logger = safeLogger(config.logger ?? effectLogger)
    const busMiddleware = config.middleware ?? []
    const isClosed = () => closed
    const publishDeps: PublishDeps = { system: transport.name, publisher, maxPayloadBytes: max, hooks: hooksOf(busMiddleware, "publish"), closed: isClosed }
    const clientDeps: ClientDeps = { transport, maxPayloadBytes: max, hooks: hooksOf(busMiddleware, "request"), closed: isClosed }

    const publishAsync: BusPromises["publish"] = (keyOrContract, payload, options) => publishOne(publishDeps, keyOrContract, payload, options)
    const publish: BusShape["publish"] = (keyOrContract, payload, options) =>
      Effect.tryPromise({ try: () => publishAsync(keyOrContract, payload, options), catch: (e) => asPublishError(e, keyOf(keyOrContract)) })

    const publishBatch: BusShape["publishBatch"] = (entries) =>
      Effect.tryPromise({ try: () => publishMany(publishDeps, entries), catch: (e) => (e instanceof BusClosed || e instanceof InvalidOptions ? e : new BusClosed({ operation: "publishBatch" })) })

    /** Registers a closeable in the caller's scope and in the bus (closed by bus.close). */
    const track = <A extends { readonly stop: Effect.Effect<void> }>(make: (scope: Scope.Closeable) => Effect.Effect<A, SubscribeError>, group: string) =>
      Effect.gen(function* () {
        const outer = yield* Scope.Scope
        const inner = yield* Scope.make()
        open.add(inner)
        const made = yield* make(inner).pipe(Effect.onError(() => Scope.close(inner, Exit.void)))
        let closing: Promise<void> | undefined
        const close = () => (closing ??= Effect.runPromise(Scope.close(inner, Exit.void).pipe(Effect.ensuring(Effect.sync(() => open.delete(inner))))))
        yield* Scope.addFinalizer(inner, made.stop)
        yield* Scope.addFinalizer(outer, Effect.promise(close))
        const sub: Subscription = { group, close }
        return sub
      })

    const subscribe: BusShape["subscribe"] = (patternsOrContract, handler, options = {}) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new BusClosed({ operation: "subscribe" }))
        const patterns = patternsOf(patternsOrContract)
        if (!Array.isArray(patterns)) return Effect.fail(patterns)
        if (typeof handler !== "function") return Effect.fail(new InvalidOptions({ option: "handler", reason: "must be a function" }))
        if (options.codec !== undefined && !isCodec(options.codec)) return Effect.fail(new InvalidOptions({ option: "codec", reason: "must have contentType, encode and decode" }))
        const badMiddleware = middlewareProblem("middleware", options.middleware)
        if (badMiddleware) return Effect.fail(badMiddleware)
        const codec = isEventContract(patternsOrContract) ? (patternsOrContract.codec as Codec<unknown>) : (options.codec as Codec<unknown> | undefined)
        const ephemeral = options.group === undefined
        const group = options.group ?? `omnibus-eph-${newMessageId().replace(/-/g, "")}`
        const badGroup = groupProblem(group)
        if (badGroup) return Effect.fail(badGroup)
        if (options.orderBy !== undefined && options.orderBy !== "key") return Effect.fail(new InvalidOptions({ option: "orderBy", reason: `only "key" is supported` }))
        let concurrency: number, prefetch: number, retry: ReturnType<typeof retryPolicy>, idem: ReturnType<typeof idempotencyConfig>
        const ordered = options.orderBy === "key"
        try {
          concurrency = positiveInt("concurrency", options.concurrency, 1)
          prefetch = positiveInt("prefetch", options.prefetch, ordered ? concurrency * 4 : concurrency)
          if (prefetch < concurrency) throw new InvalidOptions({ option: "prefetch", reason: `must be >= concurrency (${concurrency})` })
          retry = retryPolicy(options.retry)
          idem = idempotencyConfig(options.idempotency as IdempotencyStore | undefined)
        } catch (e) {
          return Effect.fail(e as InvalidOptions)
        }
        const middleware = [...busMiddleware, ...(options.middleware ?? [])]
        const observers = [...middleware.flatMap((m) => (m.observe ? [m.observe] : [])), ...(options.observe ? [options.observe] : [])] as ReadonlyArray<(e: HandlerEvent) => void>
        return track(
          () =>
            Effect.gen(function* () {
              const engine = yield* makeEngine({
                system: transport.name,
                group,
                concurrency,
                ordered,
                retry,
                idempotency: idem,
                codec,
                handler: asPromise(handler as EffectHandler<unknown>),
                middleware: hooksOf(middleware, "handle"),
                maxPayloadBytes: max,
                settler: new Settler(group, options.deadLetter ?? true, observers, logger),
                logger,
              })
              const consumption = yield* call("consume", () =>
                transport.consume({ group, patterns, ephemeral, prefetch }, engine.onDelivery),
              )
              return {
                stop: Effect.gen(function* () {
                  yield* call("stop consumer", () => consumption.stop()).pipe(Effect.ignore)
                  yield* engine.drain
                  yield* call("close consumer", () => consumption.close()).pipe(Effect.ignore)
                }),
              }
            }),
          group,
        )
      })

    const declareGroup: BusShape["declareGroup"] = (patternsOrContract, options) =>
      Effect.suspend((): Effect.Effect<void, SubscribeError> => {
        if (closed) return Effect.fail(new BusClosed({ operation: "declareGroup" }))
        const patterns = patternsOf(patternsOrContract)
        if (!Array.isArray(patterns)) return Effect.fail(patterns)
        const group = (options as { readonly group?: unknown } | undefined)?.group
        if (typeof group !== "string") return Effect.fail(new InvalidOptions({ option: "group", reason: "declareGroup needs a group name" }))
        const badGroup = groupProblem(group)
        if (badGroup) return Effect.fail(badGroup)
        return call("declare group", () => transport.declareGroup({ group, patterns, ephemeral: false }))
      })

    const requestAsync: BusPromises["requestReply"] = (methodOrContract, payload, options) => sendRequest(clientDeps, methodOrContract, payload, options)

    const requestReply: BusShape["requestReply"] = <Res>(methodOrContract: string | RpcContract<unknown, Res>, payload: unknown, options: RequestOptions<Res> = {}) =>
      Effect.tryPromise({ try: (signal) => sendRequest(clientDeps, methodOrContract, payload, options, signal), catch: (e) => asRequestError(e, keyOf(methodOrContract)) })

    const handle: BusShape["handle"] = <Req, Res>(methodOrContract: string | RpcContract<Req, Res>, handler: EffectRpcHandler<Req, Res>, options: HandleOptions<Req> = {}) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new BusClosed({ operation: "handle" }))
        const [method, codec, responseCodec] = isRpcContract(methodOrContract)
          ? [methodOrContract.method, methodOrContract.request as Codec<unknown>, methodOrContract.response as Codec<unknown>]
          : [methodOrContract, options.codec as Codec<unknown> | undefined, options.responseCodec ?? json]
        const bad = validateRoutingKey(method)
        if (bad) return Effect.fail(bad)
        if (typeof handler !== "function") return Effect.fail(new InvalidOptions({ option: "handler", reason: "must be a function" }))
        const badMiddleware = middlewareProblem("middleware", options.middleware)
        if (badMiddleware) return Effect.fail(badMiddleware)
        const group = options.group ?? method
        const badGroup = groupProblem(group)
        if (badGroup) return Effect.fail(badGroup)
        let concurrency: number
        try {
          concurrency = positiveInt("concurrency", options.concurrency, 16)
        } catch (e) {
          return Effect.fail(e as InvalidOptions)
        }
        const hooks = hooksOf([...busMiddleware, ...(options.middleware ?? [])], "serve")
        const run = asPromise(handler as EffectRpcHandler<unknown, unknown>)
        return track(() => serve(transport, { method, group, concurrency, codec, responseCodec, handler: run, hooks }, call), group)
      })

    const close: Effect.Effect<void> = Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return Effect.gen(function* () {
        yield* Effect.forEach([...open], (s) => Scope.close(s, Exit.void), { concurrency: "unbounded", discard: true })
        yield* Effect.promise(() => publisher.flushed())
        yield* call("close", () => transport.close()).pipe(Effect.ignore)
      })
    })

    const shape: BusShape = {
      transport: transport.name,
      publish,
      publishBatch,
      subscribe,
      requestReply,
      handle,
      declareGroup,
      deadLetters: {
        list: (group, options) =>
          checkAdmin(group, options?.limit).pipe(Effect.andThen(call("list dead letters", () => transport.deadLetters.list(group, options))), Effect.map((l) => l.map(toRecord))),
        replay: (group, options) => checkAdmin(group, options?.limit).pipe(Effect.andThen(call("replay dead letters", () => transport.deadLetters.replay(group, options)))),
        purge: (group) => checkAdmin(group, undefined).pipe(Effect.andThen(call("purge dead letters", () => transport.deadLetters.purge(group)))),
      },
      health: Effect.suspend(() =>
        closed ? Effect.succeed({ ready: false, detail: "closed" }) : call("health", () => transport.health()).pipe(Effect.catch((e) => Effect.succeed({ ready: false, detail: e.message }))),
      ),
      close,
    }
    promisesOfShape.set(shape, { publish: publishAsync, requestReply: requestAsync })
    transportOfShape.set(shape, transport)
    return shape
  })

const keyOf = (k: string | { readonly key: string } | { readonly method: string }): string => (typeof k === "string" ? k : "key" in k ? k.key : k.method)

export type { PayloadTooLarge }
