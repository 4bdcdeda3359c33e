/**
 * `@omnibus/core`: the user API. Adapter authors import
 * `@omnibus/core/adapter`, Effect users `@omnibus/core/effect`, tests
 * `@omnibus/core/testing`.
 */
export type * from "./api.ts"
export {
  InvalidRoutingKey,
  InvalidPattern,
  InvalidOptions,
  InvalidUrl,
  PayloadTooLarge,
  PublishFailed,
  BusClosed,
  ConnectionFailed,
  AuthenticationFailed,
  BrokerError,
  RequestTimeout,
  NoResponders,
  RemoteError,
  DecodeFailed,
  PermanentError,
  type PublishError,
  type RequestError,
  type SubscribeError,
  type ConnectError,
} from "./errors.ts"
export { defineEvent, defineRpc, batchEntry, isEventContract, isRpcContract, type EventContract, type RpcContract } from "./contract.ts"
export { MemoryIdempotencyStore, idempotencyKey, type IdempotencyStore, type ClaimResult } from "./idempotency.ts"
export * as codecs from "./codec.ts"
export { json, jsonOf, bytes, text, schema, type Codec, type JsonSchema, type PayloadSchema } from "./codec.ts"
export type { TransportOptions, Health, FailureMetadata } from "./transport.ts"
export { connect, type ConnectConfig } from "./connect.ts"
export type { Middleware, HandleOutcome, PublishContext, HandleContext, RequestContext, ServeContext } from "./middleware.ts"
export type { Logger, LogFields } from "./logger.ts"
export { parseMediaType, type MediaType, type MediaTypeRule } from "./media-type.ts"
export type { HandlerEvent, HandlerEventType } from "./consume/events.ts"
export { AttemptsExhausted, RedeliveriesExhausted } from "./consume/budget.ts"
