/**
 * Typed contracts: a routing key (or RPC method) bound to its codecs, so that
 * publish/subscribe/request/handle are typed without casts.
 */
import type { BatchEntry, PublishOptions } from "./api.ts"
import type { Codec } from "./codec.ts"
import { InvalidRoutingKey } from "./errors.ts"
import { routingKeyProblem } from "./routing.ts"

export interface EventContract<T> {
  readonly _tag: "EventContract"
  readonly key: string
  readonly codec: Codec<T>
}

export interface RpcContract<Req, Res> {
  readonly _tag: "RpcContract"
  readonly method: string
  readonly request: Codec<Req>
  readonly response: Codec<Res>
}

const checked = (key: string): string => {
  const reason = routingKeyProblem(key)
  if (reason !== undefined) throw new InvalidRoutingKey({ key, reason })
  return key
}

export const defineEvent = <T>(key: string, codec: Codec<T>): EventContract<T> => ({
  _tag: "EventContract",
  key: checked(key),
  codec,
})

export const defineRpc = <Req, Res>(method: string, request: Codec<Req>, response: Codec<Res>): RpcContract<Req, Res> => ({
  _tag: "RpcContract",
  method: checked(method),
  request,
  response,
})

/** A `publishBatch` entry whose payload is checked against the contract, like `publish(contract, payload)`. */
export const batchEntry = <T>(contract: EventContract<T>, payload: T, options?: PublishOptions): BatchEntry<T> =>
  options === undefined ? { key: contract, payload } : { key: contract, payload, options }

/** Whether a value is an event contract (defineEvent): for tools that collect contracts, such as `omnibus asyncapi`. */
export const isEventContract = (u: unknown): u is EventContract<unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "EventContract"

/** Whether a value is an RPC contract (defineRpc). */
export const isRpcContract = (u: unknown): u is RpcContract<unknown, unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "RpcContract"
