/**
 * The serving side of RPC: requests of one method shared by the servers of a
 * group, at most `concurrency` at once; each request is decoded, run through
 * the serve middleware and the handler, and answered with the response or the
 * handler's error (the requester raises it as RemoteError).
 */
import * as Effect from "effect/Effect"
import type { Request } from "../api.ts"
import { byContentType, contentTypeProblem, type Codec } from "../codec.ts"
import { Drain } from "../drain.ts"
import { newMessageId, type Envelope } from "../envelope.ts"
import { Wire } from "../wire.ts"
import { BrokerError, DecodeFailed, describeError } from "../errors.ts"
import { compose, type Middleware, type ServeContext } from "../middleware.ts"
import { Permits } from "../ordering.ts"
import type { IncomingRequest, Transport } from "../transport.ts"

export interface ServerConfig {
  readonly method: string
  readonly group: string
  readonly concurrency: number
  /** The request codec; undefined = by each request's content type. */
  readonly codec: Codec<unknown> | undefined
  readonly responseCodec: Codec<unknown>
  readonly handler: (request: Request<unknown>) => Promise<unknown>
  readonly hooks: ReadonlyArray<NonNullable<Middleware["serve"]>>
}

const answerOf = (transport: Transport, config: ServerConfig) => {
  const { method, codec, responseCodec } = config
  const run = (request: Request<unknown>): Promise<unknown> => {
    if (config.hooks.length === 0) return config.handler(request)
    const ctx: ServeContext = { system: transport.name, group: config.group, request }
    return compose(config.hooks, ctx, () => config.handler(request))()
  }
  return async (req: IncomingRequest): Promise<void> => {
    const env = req.envelope
    const base = { id: newMessageId(), routingKey: method, key: undefined, correlationId: env.correlationId ?? env.id, timestamp: Date.now() }
    let reply: Envelope
    try {
      const problem = codec && contentTypeProblem(codec, env.contentType)
      if (codec && problem !== undefined) {
        throw new DecodeFailed({ contentType: env.contentType, reason: `${problem}; expected ${codec.contentType}` })
      }
      const payload = (codec ?? byContentType(env.contentType)).decode(env.payload)
      const res = await run({ id: env.id, method, payload, headers: env.headers, correlationId: env.correlationId })
      reply = { ...base, payload: responseCodec.encode(res), contentType: responseCodec.contentType, headers: {} }
    } catch (e) {
      reply = { ...base, payload: new Uint8Array(0), contentType: "application/octet-stream", headers: { [Wire.remoteError]: JSON.stringify(describeError(e)) } }
    }
    // A reply or settlement the broker refused: the requester times out; the adapter redelivers or drops the request.
    try {
      await req.reply(reply)
    } catch { /* see above */ }
    try {
      await req.done()
    } catch { /* see above */ }
  }
}

/** Starts serving; `stop` stops taking requests, answers those running, then closes. */
export const serve = (
  transport: Transport,
  config: ServerConfig,
  call: <A>(operation: string, f: () => Promise<A>) => Effect.Effect<A, BrokerError>,
): Effect.Effect<{ readonly stop: Effect.Effect<void> }, BrokerError> =>
  Effect.gen(function* () {
    const permits = new Permits(config.concurrency)
    const answer = answerOf(transport, config)
    const running = new Drain()
    let stopping = false
    const onRequest = (req: IncomingRequest) => {
      if (stopping) return
      const go = async () => {
        await permits.acquire()
        try {
          await answer(req)
        } finally {
          permits.release()
        }
      }
      void running.track(go())
    }
    const consumption = yield* call("serve", () => transport.serve({ method: config.method, group: config.group, concurrency: config.concurrency }, onRequest))
    return {
      stop: Effect.gen(function* () {
        yield* call("stop server", () => consumption.stop()).pipe(Effect.ignore)
        stopping = true
        yield* Effect.promise(() => running.done())
        yield* call("close server", () => consumption.close()).pipe(Effect.ignore)
      }),
    }
  })
