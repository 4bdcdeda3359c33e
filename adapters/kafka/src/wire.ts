/**
 * Envelope ⇄ Kafka record: core's flat header layout (`toWireHeaders`), the
 * ordering key as the record key (so one key stays in one partition), plus
 * the adapter's own headers for retries and dead letters.
 */
import { fromWireHeaders, toWireHeaders, Wire, type Envelope } from "@omnibus/core/adapter"
import type { FailureMetadata } from "@omnibus/core/adapter"
import type { InRecord, OutRecord } from "./client.ts"

/** When a retry record becomes due (ms since epoch). */
export const DUE_HEADER = "x-omnibus-due"
/** On dead-letter tombstones: the DLQ position (partition:offset) removed by replay. */
export const REMOVED_HEADER = "x-omnibus-dlq-removed"

/** On RPC replies: the request topic's partition the server read it from (rpc-routing.ts). */
export const RPC_PARTITION_HEADER = "x-omnibus-rpc-partition"

const INTERNAL = new Set<string>([DUE_HEADER, REMOVED_HEADER, RPC_PARTITION_HEADER, Wire.error, Wire.errorName, Wire.errorCode, Wire.attempts, Wire.firstFailure, Wire.lastFailure, Wire.group])

export const toRecord = (e: Envelope, extra?: Readonly<Record<string, string>>): OutRecord => ({
  key: e.key,
  value: e.payload,
  headers: extra ? { ...toWireHeaders(e), ...extra } : toWireHeaders(e),
})

export const fromRecord = (topic: string, partition: number, r: InRecord): Envelope => {
  const clean: Record<string, string> = {}
  for (const [k, v] of Object.entries(r.headers)) if (!INTERNAL.has(k)) clean[k] = v
  const env = fromWireHeaders(clean, r.value, { id: `${topic}:${partition}:${r.offset}`, routingKey: topic, timestamp: r.timestamp })
  // A plain producer's record key is its ordering key.
  return env.key === undefined && r.key !== undefined && r.headers[Wire.id] === undefined ? { ...env, key: r.key } : env
}

/** Attempt the record was written for (1 unless it is a retry). */
export const recordAttempt = (r: InRecord): number => {
  const n = Number(r.headers[Wire.attempt])
  return Number.isInteger(n) && n > 0 ? n : 1
}

export const recordFirstFailure = (r: InRecord): number | undefined => {
  const n = Number(r.headers[Wire.firstFailure])
  return Number.isFinite(n) && n > 0 ? n : undefined
}

export const recordDue = (r: InRecord): number | undefined => {
  const n = Number(r.headers[DUE_HEADER])
  return Number.isFinite(n) && n > 0 ? n : undefined
}

export const failureFromRecord = (r: InRecord, group: string): FailureMetadata => ({
  error: r.headers[Wire.error] ?? "",
  errorName: r.headers[Wire.errorName] ?? "Error",
  errorCode: r.headers[Wire.errorCode],
  attempts: Number(r.headers[Wire.attempts] ?? 1),
  firstFailureAt: Number(r.headers[Wire.firstFailure] ?? r.timestamp),
  lastFailureAt: Number(r.headers[Wire.lastFailure] ?? r.timestamp),
  group: r.headers[Wire.group] ?? group,
})
