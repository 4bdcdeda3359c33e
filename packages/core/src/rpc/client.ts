/**
 * The requesting side of RPC: validate and encode the request, run the
 * request middleware, send it through the transport, hold our own deadline
 * whatever the transport does, decode the reply (or raise the server's error).
 */
import type { Reply, RequestOptions } from "../api.ts"
import { byContentType, contentTypeProblem, json, type Codec } from "../codec.ts"
import { isRpcContract, type RpcContract } from "../contract.ts"
import { toMillis } from "../duration.ts"
import type { Envelope } from "../envelope.ts"
import { Wire } from "../wire.ts"
import { BusClosed, DecodeFailed, describeError, InvalidOptions, NoResponders, PublishFailed, RemoteError, RequestTimeout } from "../errors.ts"
import { buildEnvelope } from "../message.ts"
import { compose, type Middleware, type RequestContext } from "../middleware.ts"
import { validateRoutingKey } from "../routing.ts"
import type { Transport } from "../transport.ts"

const DEFAULT_TIMEOUT_MS = 5_000

export interface ClientDeps {
  readonly transport: Transport
  readonly maxPayloadBytes: number
  readonly hooks: ReadonlyArray<NonNullable<Middleware["request"]>>
  readonly closed: () => boolean
}

/** Validates a request and builds its envelope; a returned error is the caller's mistake, nothing was sent. */
const prepare = <Res>(deps: ClientDeps, methodOrContract: string | RpcContract<unknown, Res>, payload: unknown, options: RequestOptions<Res>) => {
  if (deps.closed()) return new BusClosed({ operation: "request" })
  const [method, codec, responseCodec] = isRpcContract(methodOrContract)
    ? [methodOrContract.method, methodOrContract.request, methodOrContract.response as Codec<Res>]
    : [methodOrContract, options.codec ?? json, options.responseCodec]
  const bad = validateRoutingKey(method)
  if (bad) return bad
  let timeoutMs: number
  try {
    timeoutMs = options.timeout === undefined ? DEFAULT_TIMEOUT_MS : toMillis("timeout", options.timeout)
    if (timeoutMs <= 0) throw new InvalidOptions({ option: "timeout", reason: "must be positive" })
  } catch (e) {
    return e as InvalidOptions
  }
  const env = buildEnvelope(method, payload, codec, { headers: options.headers }, deps.maxPayloadBytes)
  if (!("payload" in env)) return env
  const request: Envelope = { ...env, correlationId: env.id }
  return { method, request, timeoutMs, responseCodec }
}

const readReply = <Res>(method: string, reply: Envelope, responseCodec: Codec<Res> | undefined): Reply<Res> => {
  const remote = reply.headers[Wire.remoteError]
  if (remote !== undefined) {
    let info: { name?: string; message?: string; code?: string } = {}
    try {
      info = JSON.parse(remote) as typeof info
    } catch {
      info = { name: "Error", message: remote }
    }
    throw new RemoteError({ method, remoteName: info.name ?? "Error", remoteMessage: info.message ?? "", code: info.code })
  }
  const rc = (responseCodec ?? byContentType(reply.contentType)) as Codec<Res>
  try {
    const problem = responseCodec && contentTypeProblem(responseCodec as Codec<unknown>, reply.contentType)
    if (responseCodec && problem !== undefined) {
      throw new DecodeFailed({ contentType: reply.contentType, reason: `${problem}; expected ${responseCodec.contentType}` })
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(reply.headers)) if (k !== Wire.remoteError) headers[k] = v
    return { payload: rc.decode(reply.payload), headers, correlationId: reply.correlationId, contentType: reply.contentType }
  } catch (e) {
    throw e instanceof DecodeFailed ? e : new DecodeFailed({ contentType: reply.contentType, reason: describeError(e).message })
  }
}

/** Sends and waits; `signal` aborts the wait (Effect interruption); the deadline is ours, whatever the transport does. */
const send = <Res>(transport: Transport, method: string, request: Envelope, timeoutMs: number, responseCodec: Codec<Res> | undefined, signal: AbortSignal | undefined): Promise<Reply<Res>> => {
  const abort = new AbortController()
  const onAbort = () => abort.abort()
  signal?.addEventListener("abort", onAbort, { once: true })
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    // The one RPC deadline: adapters keep no timer; the abort tells the transport to stop waiting.
    timer = setTimeout(() => {
      reject(new RequestTimeout({ method, timeoutMs }))
      abort.abort()
    }, timeoutMs)
  })
  const sent = transport.request(request, { timeoutMs, signal: abort.signal }).then(
    (reply) => readReply(method, reply, responseCodec),
    (e: unknown): never => {
      throw e instanceof RequestTimeout || e instanceof NoResponders || e instanceof BusClosed || e instanceof PublishFailed
        ? e
        : new PublishFailed({ key: method, reason: describeError(e).message, cause: e })
    },
  )
  return Promise.race([sent, deadline]).finally(() => {
    clearTimeout(timer)
    signal?.removeEventListener("abort", onAbort)
  })
}

export const request = <Res>(deps: ClientDeps, methodOrContract: string | RpcContract<unknown, Res>, payload: unknown, options: RequestOptions<Res> = {}, signal?: AbortSignal): Promise<Reply<Res>> => {
  const prepared = prepare(deps, methodOrContract, payload, options)
  if (!("request" in prepared)) return Promise.reject(prepared)
  const { method, request: env, timeoutMs, responseCodec } = prepared
  if (deps.hooks.length === 0) return send(deps.transport, method, env, timeoutMs, responseCodec, signal)
  const ctx: RequestContext = { system: deps.transport.name, method, id: env.id, timeoutMs, bodySize: env.payload.byteLength, headers: { ...env.headers } }
  return compose(deps.hooks, ctx, () => send(deps.transport, method, { ...env, headers: ctx.headers }, timeoutMs, responseCodec, signal))() as Promise<Reply<Res>>
}
