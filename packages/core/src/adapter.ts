/**
 * `@omnibus/core/adapter`: what an adapter author builds on, kept apart from
 * the user API in index.ts so users see only what they call. An adapter
 * implements the Transport port (transport.ts), registers its URL schemes,
 * and maps Omnibus' envelope to its broker's headers with the one wire schema
 * (wire.ts; CloudEvents binary mode in cloudevents.ts), so every adapter reads
 * what every other one wrote.
 */
export type * from "./transport.ts"
export { simulateCrash, DeliveryLost } from "./transport.ts"
export type * from "./topology-report.ts"
export { reportedNames } from "./topology-report.ts"
/** A Bus over a transport built by hand (tests of an adapter, a transport not registered by scheme). */
export { fromTransport } from "./connect.ts"
export { registerAdapter, resolveAdapter, schemeOf } from "./registry.ts"
export { parseBrokerUrl, parseClusterUrl, hostListOption, hostPort, type BrokerHost } from "./broker-url.ts"
export { newMessageId, type Envelope } from "./envelope.ts"
export {
  Wire,
  RESERVED_PREFIX,
  FAILURE_HEADERS,
  RETRY_HEADERS,
  BOOKKEEPING_HEADERS,
  AdapterHeaders,
  CloudEventsWire,
  MAX_HEADER_BYTES,
  MAX_KEY_BYTES,
  DEFAULT_MAX_PAYLOAD_BYTES,
  headersSize,
  toWireHeaders,
  fromWireHeaders,
  attemptOf,
  firstFailureOf,
  failureToHeaders,
  failureFromHeaders,
} from "./wire.ts"
export {
  cloudEventHeaders,
  readCloudEventHeaders,
  cloudEventsSettings,
  defaultCloudEventsSource,
  type CloudEventsBinding,
  type CloudEventsSettings,
} from "./cloudevents.ts"
/** Validates and encodes a publish exactly as `bus.publish` does (packages that store messages to publish later, like @omnibus/outbox). */
export { buildEnvelope } from "./message.ts"
export { KeyedSerializer } from "./ordering.ts"
export { matches, matchesAny, literalPrefix, overlapWitness, patternsOverlap, patternCovers, validateRoutingKey, validatePattern } from "./routing.ts"
export { retryPolicy, backoffSchedule, DEFAULT_RETRY, type RetryPolicy } from "./retry.ts"
export { toMillis } from "./duration.ts"
export { untilAborted } from "./abortable.ts"
export * from "./errors.ts"
