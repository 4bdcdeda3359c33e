/**
 * The Bus, as Effect values: the one implementation of the public API. The
 * Promise facade (promise.ts) runs these effects; Effect users get the same
 * through the `Bus` service (effect.ts).
 */
import { Effect, Exit, Scope, Semaphore } from "effect"
import type {
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
import { json, byContentType, contentTypeFits, type Codec } from "./codec.ts"
import { isEventContract, isRpcContract, type EventContract, type RpcContract } from "./contract.ts"
import { makeEngine, describeError } from "./consumer.ts"
import { toMillis } from "./duration.ts"
import { newMessageId, Wire, type Envelope } from "./envelope.ts"
import {
  BrokerError,
  BusClosed,
  DecodeFailed,
  InvalidOptions,
  InvalidPattern,
  InvalidRoutingKey,
  NoResponders,
  PayloadTooLarge,
  PublishFailed,
  RemoteError,
  RequestTimeout,
  type PublishError,
  type RequestError,
  type SubscribeError,
} from "./errors.ts"
import type { IdempotencyStore } from "./idempotency.ts"
import { buildEnvelope } from "./message.ts"
import { Publisher } from "./publisher.ts"
import { retryPolicy } from "./retry.ts"
import { routingKeyProblem, validatePattern, validateRoutingKey } from "./routing.ts"
import type { Health, Transport } from "./transport.ts"

/** A handler as Effect users write it; Promise handlers are lifted by the facade. */
export type EffectHandler<T> = (message: Message<T>) => Effect.Effect<void, unknown>
export type EffectRpcHandler<Req, Res> = (request: Request<Req>) => Effect.Effect<Res, unknown>

export type SubscribeEffectOptions<T> = SubscribeOptions<T>

export interface BusShape {
  readonly transport: Transport
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
  readonly deadLetters: {
    readonly list: (group: string, options?: { readonly limit?: number }) => Effect.Effect<ReadonlyArray<DeadLetterRecord>, BrokerError | InvalidOptions>
    readonly replay: (group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }) => Effect.Effect<number, BrokerError | InvalidOptions>
    readonly purge: (group: string) => Effect.Effect<number, BrokerError | InvalidOptions>
  }
  readonly health: Effect.Effect<Health>
  readonly close: Effect.Effect<void>
}

const isTagged = (e: unknown): e is { readonly _tag: string } =>
  typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string"

/** Lifts a transport call; non-Omnibus errors become BrokerError naming the operation. */
const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, BrokerError> =>
  Effect.tryPromise({
    try: f,
    catch: (e) => (e instanceof BrokerError ? e : new BrokerError({ operation, reason: isTagged(e) && e instanceof Error ? e.message : describeError(e).message, cause: e })),
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

const DEFAULT_TIMEOUT_MS = 5_000
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

/** Builds the Bus over a connected transport. */
export const makeBus = (transport: Transport): Effect.Effect<BusShape> =>
  Effect.sync(() => {
    const publisher = new Publisher(transport)
    const open = new Set<Scope.Closeable>()
    let closed = false
    const max = transport.limits.maxPayloadBytes

    const publish: BusShape["publish"] = (keyOrContract, payload, options) =>
      Effect.suspend((): Effect.Effect<PublishReceipt, PublishError> => {
        if (closed) return Effect.fail(new BusClosed({ operation: "publish" }))
        const [key, codec] = isEventContract(keyOrContract) ? [keyOrContract.key, keyOrContract.codec] : [keyOrContract, options?.codec ?? json]
        const env = buildEnvelope(key, payload, codec, options, max)
        if (!("payload" in env)) return Effect.fail(env)
        return Effect.promise(() => publisher.send(env)).pipe(
          Effect.flatMap((o) => (o.ok ? Effect.succeed({ id: env.id }) : Effect.fail(o.error))),
        )
      })

    const publishBatch: BusShape["publishBatch"] = (entries) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<BatchResult>, BusClosed | InvalidOptions> => {
        if (closed) return Effect.fail(new BusClosed({ operation: "publishBatch" }))
        if (!Array.isArray(entries)) return Effect.fail(new InvalidOptions({ option: "entries", reason: "publishBatch takes an array of { key, payload, options? }" }))
        if (entries.some((e) => typeof e !== "object" || e === null)) return Effect.fail(new InvalidOptions({ option: "entries", reason: "every entry must be an object { key, payload, options? }" }))
        const built = entries.map((e) => buildEnvelope(e.key, e.payload, (e.codec as Codec<unknown> | undefined) ?? json, e.options, max))
        const valid = built.filter((b): b is Envelope => "payload" in b)
        return Effect.promise(() => publisher.sendBatch(valid)).pipe(
          Effect.map((outcomes) => {
            let i = 0
            return built.map((b): BatchResult => {
              if (!("payload" in b)) return { ok: false, error: b }
              const o = outcomes[i++]
              return o?.ok ? { ok: true, id: b.id } : { ok: false, error: o?.error ?? new PublishFailed({ key: b.routingKey, reason: "no outcome" }) }
            })
          }),
        )
      })

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
        if (typeof patternsOrContract !== "string" && !Array.isArray(patternsOrContract) && !isEventContract(patternsOrContract)) {
          return Effect.fail(new InvalidPattern({ pattern: String(patternsOrContract), reason: "patterns must be a string, an array of strings or an event contract" }))
        }
        if (typeof handler !== "function") return Effect.fail(new InvalidOptions({ option: "handler", reason: "must be a function" }))
        if (options.codec !== undefined && !isCodec(options.codec)) return Effect.fail(new InvalidOptions({ option: "codec", reason: "must have contentType, encode and decode" }))
        const [patterns, codec] = isEventContract(patternsOrContract)
          ? [[patternsOrContract.key], patternsOrContract.codec as Codec<unknown>]
          : [typeof patternsOrContract === "string" ? [patternsOrContract] : [...(patternsOrContract as ReadonlyArray<string>)], options.codec as Codec<unknown> | undefined]
        if (patterns.length === 0) return Effect.fail(new InvalidPattern({ pattern: "", reason: "no pattern given" }))
        for (const p of patterns) {
          const bad = validatePattern(p)
          if (bad) return Effect.fail(bad)
        }
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
        return track(
          () =>
            Effect.gen(function* () {
              const engine = yield* makeEngine({
                group,
                concurrency,
                ordered,
                retry,
                deadLetter: options.deadLetter ?? true,
                idempotency: idem,
                codec,
                handler: handler as EffectHandler<unknown>,
                observe: options.observe,
                maxPayloadBytes: max,
              })
              const consumption = yield* call("consume", () =>
                transport.consume({ group, patterns, ephemeral, prefetch, orderedByKey: ordered }, engine.onDelivery),
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

    const requestReply: BusShape["requestReply"] = <Res>(methodOrContract: string | RpcContract<unknown, Res>, payload: unknown, options: RequestOptions<Res> = {}) =>
      Effect.suspend((): Effect.Effect<Reply<Res>, RequestError> => {
        if (closed) return Effect.fail(new BusClosed({ operation: "request" }))
        const [method, codec, responseCodec] = isRpcContract(methodOrContract)
          ? [methodOrContract.method, methodOrContract.request, methodOrContract.response as Codec<Res>]
          : [methodOrContract, options.codec ?? json, options.responseCodec]
        const bad = validateRoutingKey(method)
        if (bad) return Effect.fail(bad)
        let timeoutMs: number
        try {
          timeoutMs = options.timeout === undefined ? DEFAULT_TIMEOUT_MS : toMillis("timeout", options.timeout)
          if (timeoutMs <= 0) throw new InvalidOptions({ option: "timeout", reason: "must be positive" })
        } catch (e) {
          return Effect.fail(e as InvalidOptions)
        }
        const env = buildEnvelope(method, payload, codec, { headers: options.headers }, max)
        if (!("payload" in env)) return Effect.fail(env)
        const request: Envelope = { ...env, correlationId: env.id }
        const timeout = new RequestTimeout({ method, timeoutMs })
        return Effect.tryPromise({
          try: (signal) => transport.request(request, { timeoutMs, signal }),
          catch: (e): RequestError =>
            e instanceof RequestTimeout || e instanceof NoResponders || e instanceof BusClosed || e instanceof PublishFailed
              ? e
              : new PublishFailed({ key: method, reason: describeError(e).message, cause: e }),
        }).pipe(
          Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail(timeout) }),
          Effect.flatMap((reply): Effect.Effect<Reply<Res>, RemoteError | DecodeFailed> => {
            const remote = reply.headers[Wire.remoteError]
            if (remote !== undefined) {
              let info: { name?: string; message?: string; code?: string } = {}
              try {
                info = JSON.parse(remote) as typeof info
              } catch {
                info = { name: "Error", message: remote }
              }
              return Effect.fail(new RemoteError({ method, remoteName: info.name ?? "Error", remoteMessage: info.message ?? "", code: info.code }))
            }
            const rc = (responseCodec ?? byContentType(reply.contentType)) as Codec<Res>
            try {
              if (responseCodec && !contentTypeFits(responseCodec as Codec<unknown>, reply.contentType)) {
                throw new DecodeFailed({ contentType: reply.contentType, reason: `expected ${responseCodec.contentType}` })
              }
              const headers: Record<string, string> = {}
              for (const [k, v] of Object.entries(reply.headers)) if (k !== Wire.remoteError) headers[k] = v
              return Effect.succeed({ payload: rc.decode(reply.payload), headers, correlationId: reply.correlationId, contentType: reply.contentType })
            } catch (e) {
              return Effect.fail(e instanceof DecodeFailed ? e : new DecodeFailed({ contentType: reply.contentType, reason: describeError(e).message }))
            }
          }),
        )
      })

    const handle: BusShape["handle"] = <Req, Res>(methodOrContract: string | RpcContract<Req, Res>, handler: EffectRpcHandler<Req, Res>, options: HandleOptions<Req> = {}) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new BusClosed({ operation: "handle" }))
        const [method, codec, responseCodec] = isRpcContract(methodOrContract)
          ? [methodOrContract.method, methodOrContract.request as Codec<unknown>, methodOrContract.response as Codec<unknown>]
          : [methodOrContract, options.codec as Codec<unknown> | undefined, options.responseCodec ?? json]
        const bad = validateRoutingKey(method)
        if (bad) return Effect.fail(bad)
        if (typeof handler !== "function") return Effect.fail(new InvalidOptions({ option: "handler", reason: "must be a function" }))
        const group = options.group ?? method
        const badGroup = groupProblem(group)
        if (badGroup) return Effect.fail(badGroup)
        let concurrency: number
        try {
          concurrency = positiveInt("concurrency", options.concurrency, 16)
        } catch (e) {
          return Effect.fail(e as InvalidOptions)
        }
        return track(
          () =>
            Effect.gen(function* () {
              const permits = yield* Semaphore.make(concurrency)
              let running = 0
              let stopping = false
              let idle: Array<() => void> = []
              const answer = (req: import("./transport.ts").IncomingRequest) =>
                Effect.gen(function* () {
                  const env = req.envelope
                  const base = { id: newMessageId(), routingKey: method, key: undefined, correlationId: env.correlationId ?? env.id, timestamp: Date.now() }
                  const outcome = yield* Effect.result(
                    Effect.suspend(() => {
                      if (codec && !contentTypeFits(codec, env.contentType)) {
                        return Effect.fail(new DecodeFailed({ contentType: env.contentType, reason: `expected ${codec.contentType}` }))
                      }
                      const decoded = Effect.try({ try: () => (codec ?? byContentType(env.contentType)).decode(env.payload) as Req, catch: (e) => e })
                      return decoded.pipe(
                        Effect.flatMap((payload) => handler({ id: env.id, method, payload, headers: env.headers, correlationId: env.correlationId })),
                        Effect.flatMap((res) => Effect.try({ try: () => responseCodec.encode(res), catch: (e) => e })),
                      )
                    }),
                  )
                  const reply: Envelope =
                    outcome._tag === "Success"
                      ? { ...base, payload: outcome.success, contentType: responseCodec.contentType, headers: {} }
                      : (() => {
                          const info = describeError(outcome.failure)
                          return { ...base, payload: new Uint8Array(0), contentType: "application/octet-stream", headers: { [Wire.remoteError]: JSON.stringify(info) } }
                        })()
                  yield* call("reply", () => req.reply(reply)).pipe(Effect.ignore)
                  yield* call("settle request", () => req.done()).pipe(Effect.ignore)
                })
              const onRequest = (req: import("./transport.ts").IncomingRequest) => {
                if (stopping) return
                running++
                void Effect.runPromise(permits.withPermits(1)(answer(req))).finally(() => {
                  if (--running === 0) for (const w of idle.splice(0)) w()
                })
              }
              const consumption = yield* call("serve", () => transport.serve({ method, group, concurrency }, onRequest))
              return {
                stop: Effect.gen(function* () {
                  yield* call("stop server", () => consumption.stop()).pipe(Effect.ignore)
                  stopping = true
                  if (running > 0) yield* Effect.callback<void>((resume) => void idle.push(() => resume(Effect.void)))
                  yield* call("close server", () => consumption.close()).pipe(Effect.ignore)
                }),
              }
            }),
          group,
        )
      })

    const toRecord = (d: import("./transport.ts").DeadLetter): DeadLetterRecord => ({
      id: d.envelope.id,
      routingKey: d.envelope.routingKey,
      key: d.envelope.key,
      body: d.envelope.payload,
      contentType: d.envelope.contentType,
      headers: d.envelope.headers,
      timestamp: d.envelope.timestamp,
      failure: d.failure,
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

    return {
      transport,
      publish,
      publishBatch,
      subscribe,
      requestReply,
      handle,
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
    } satisfies BusShape
  })

export type { PayloadTooLarge }
