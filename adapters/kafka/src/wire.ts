/**
 * Envelope ⇄ Kafka record: core's flat header layout (`toWireHeaders`), the
 * ordering key as the record key (so one key stays in one partition), plus
 * the adapter's own headers for retries and dead letters (core's
 * `AdapterHeaders.kafka`). CloudEvents: the Kafka binding's `ce_` headers.
 */
import { AdapterHeaders, attemptOf, failureFromHeaders, firstFailureOf, fromWireHeaders, readCloudEventHeaders, toWireHeaders, Wire, type Envelope } from "@omnibus/core/adapter"
import type { FailureMetadata } from "@omnibus/core/adapter"
import type { InRecord, OutRecord } from "./client.ts"

/** When a retry record becomes due (ms since epoch). */
export const DUE_HEADER = AdapterHeaders.kafka.due
/** On dead-letter tombstones: the DLQ position (partition:offset) removed by replay. */
export const REMOVED_HEADER = AdapterHeaders.kafka.dlqRemoved
/** On RPC replies: the request topic's partition the server read it from (rpc-routing.ts). */
export const RPC_PARTITION_HEADER = AdapterHeaders.kafka.rpcPartition

export const toRecord = (e: Envelope, extra?: Readonly<Record<string, string>>): OutRecord => ({
  key: e.key,
  value: e.payload,
  headers: extra ? { ...toWireHeaders(e), ...extra } : toWireHeaders(e),
})

/** `routingKey`: what a record without one (a plain producer's) is routed by; the topic's name unless event-topics.ts maps the topic to one key. */
export const fromRecord = (topic: string, partition: number, r: InRecord, routingKey = topic): Envelope => {
  const headers = readCloudEventHeaders(r.headers, "kafka")
  const env = fromWireHeaders(headers, r.value, { id: `${topic}:${partition}:${r.offset}`, routingKey, timestamp: r.timestamp })
  // A plain producer's (a CloudEvents producer's too) record key is its ordering key.
  return env.key === undefined && r.key !== undefined && r.headers[Wire.id] === undefined ? { ...env, key: r.key } : env
}

/** Attempt the record was written for (1 unless it is a retry). */
export const recordAttempt = (r: InRecord): number => attemptOf(r.headers)

export const recordFirstFailure = (r: InRecord): number | undefined => firstFailureOf(r.headers)

export const recordDue = (r: InRecord): number | undefined => {
  const n = Number(r.headers[DUE_HEADER])
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/** A dead letter's failure metadata; a record without it counts one attempt, failed when the record was written. */
export const failureFromRecord = (r: InRecord, group: string): FailureMetadata => failureFromHeaders(r.headers, group, { attempts: 1, at: r.timestamp })
