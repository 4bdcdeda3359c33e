/**
 * The case registry: every case of the contract (docs/conformance.md) with its
 * section and a short title. The suite names its tests from it and guarantees.ts
 * prints every row, also for cases an adapter has not run (the fault suite,
 * section G).
 * Plain data and erasable syntax only: `node conformance/src/guarantees.ts`
 * imports this file with Node's type stripping.
 */
export type SectionId = "A" | "B" | "C" | "D" | "E" | "F" | "G" | "H"

export interface CaseInfo {
  readonly id: number
  readonly section: SectionId
  readonly title: string
}

export const SECTIONS: Readonly<Record<SectionId, string>> = {
  A: "Delivery and routing",
  B: "Durability and at-least-once",
  C: "Retry and backoff",
  D: "Dead letters",
  E: "Ordering and idempotency",
  F: "Request / reply",
  G: "Connection faults (fault suite)",
  H: "Observability",
}

export const CASES: ReadonlyArray<CaseInfo> = [
  { id: 1, section: "A", title: "round trip of payload bytes, headers, content type, ids and timestamp" },
  { id: 2, section: "A", title: "AMQP topic routing (* and # in every position)" },
  { id: 3, section: "A", title: "invalid keys and patterns rejected before sending" },
  { id: 4, section: "A", title: "fan-out: 5 groups each receive all 1,000 messages once" },
  { id: 5, section: "A", title: "broadcast: ephemeral subscriptions get everything and leave nothing behind" },
  { id: 6, section: "A", title: "competing consumers share 2,000 messages, each handled once" },
  { id: 7, section: "A", title: "no handler runs after close; later messages wait for the group" },
  { id: 8, section: "B", title: "publish resolves after a durable confirm; closed bus rejects with a typed error" },
  { id: 9, section: "B", title: "offline group receives the 1,000 messages published meanwhile" },
  { id: 10, section: "B", title: "crash redelivery: 500 messages, consumer dies at ~half, none lost" },
  { id: 11, section: "B", title: "backpressure: never more than N handlers running" },
  { id: 12, section: "B", title: "graceful close drains handlers; nothing lost, nothing processed redelivered" },
  { id: 13, section: "C", title: "retry with attempt numbers; fail twice then succeed = 3 calls, then acked" },
  { id: 14, section: "C", title: "exponential backoff gaps match the policy (jitter off and on)" },
  { id: 15, section: "C", title: "a waiting retry does not block the group" },
  { id: 16, section: "C", title: "attempt numbers survive a consumer crash" },
  { id: 17, section: "D", title: "exhausted message dead-lettered with original data and failure metadata" },
  { id: 18, section: "D", title: "permanent errors and undecodable payloads dead-lettered at once" },
  { id: 19, section: "D", title: "dead letters listed, inspected, replayed (100, none lost) and purged" },
  { id: 20, section: "E", title: "ordering by key: 2,000 messages over 20 keys, concurrency 8, with retries" },
  { id: 21, section: "E", title: "idempotency store: duplicates and crash redeliveries handled once" },
  { id: 22, section: "E", title: "publish-side dedup by message id" },
  { id: 23, section: "F", title: "request/reply round trip with payload, headers and correlation" },
  { id: 24, section: "F", title: "500 concurrent requests, 3 servers, no crossed replies" },
  { id: 25, section: "F", title: "remote error carries name, message and code; server keeps serving" },
  { id: 26, section: "F", title: "request timeout at the requested time; late reply dropped" },
  { id: 27, section: "F", title: "no responders reported well before the timeout" },
  { id: 28, section: "G", title: "broker restart mid-stream: 10,000 messages, none lost" },
  { id: 29, section: "G", title: "broker down at start: connect retries, then a typed error" },
  { id: 30, section: "B", title: "leases: a handler running 3x the broker deadline is not redelivered" },
  { id: 31, section: "B", title: "close flushes 10,000 in-flight publishes; closing 10 subscriptions loses nothing" },
  { id: 32, section: "E", title: "no head-of-line blocking across keys in an ordered subscription" },
  { id: 33, section: "E", title: "batch publish with partial failure reports per entry" },
  { id: 34, section: "G", title: "model check: seeded random schedule checked against the rules of faults/model.ts" },
  { id: 35, section: "D", title: "poison message: crashes its consumer every time, dead-lettered after maxRedeliveries" },
  { id: 36, section: "A", title: "foreign producer: protobuf under every protobuf content type (and none) decoded; another declared type dead-lettered" },
  { id: 37, section: "E", title: "foreign message without id: a crash redelivery has the same id and the idempotency store recognises it" },
  { id: 39, section: "H", title: "tracing and metrics: one trace from publish to handler through the broker, a retry, a dead letter + replay, a nested publish and RPC" },
  { id: 40, section: "H", title: "tracing across processes: publish here, handling and RPC serving in a child process with its own SDK, one trace through a retry, a dead letter + replay and RPC" },
  { id: 38, section: "D", title: "poison among healthy traffic: consumer crashed on it each time; only the poison is dead-lettered" },
]

export const caseInfo = (id: number): CaseInfo => {
  const info = CASES.find((c) => c.id === id)
  if (info === undefined) throw new Error(`no conformance case ${id}`)
  return info
}

/** The fault suite's rows: contract cases 28, 29, 34 and the named connection faults. */
export type FaultId = "28" | "29" | "34" | "G-consumer-kill" | "G-cut" | "G-stall" | "G-half-open" | "G-tls" | "G-auth" | "G-secrets" | "G-rpc-kill" | "G-poison-1x4" | "G-poison-1x16" | "G-poison-3x4" | "G-poison-3x16"

export interface FaultInfo {
  readonly id: FaultId
  /** The conformance case this row is, if any (its result also goes to the case table). */
  readonly caseId?: number
  readonly title: string
}

/** The cluster fault suite's rows (conformance/src/clusters/, docs/clusters.md). */
export type ClusterFaultId = "C-leader-kill" | "C-rpc-kill" | "C-rolling-restart" | "C-partition" | "C-model"

export const CLUSTER_FAULTS: ReadonlyArray<{ readonly id: ClusterFaultId; readonly title: string }> = [
  { id: "C-leader-kill", title: "kill -9 of the node leading the group's queue/stream mid-stream (10,000 messages, publisher and consumers running)" },
  { id: "C-rpc-kill", title: "RPC during a node kill: every request settles within its timeout, servers on the surviving nodes keep answering" },
  { id: "C-rolling-restart", title: "rolling restart of all three nodes under load: nothing lost, no consumer stuck" },
  { id: "C-partition", title: "the node the publisher is connected to cut off from the others for 10 s: every publish confirmed or failed typed, nothing confirmed lost, the client on the majority side where the broker allows it" },
  { id: "C-model", title: "model check (case 34's) with kill -9 of seeded-random nodes, one at a time, besides consumer crashes and subscription closes" },
]

export const FAULTS: ReadonlyArray<FaultInfo> = [
  { id: "28", caseId: 28, title: "broker kill -9 and restart mid-stream (10,000 messages, consumers running)" },
  { id: "29", caseId: 29, title: "broker down at start: connect deadline, retries until the broker is up; health while down" },
  { id: "G-consumer-kill", title: "consumer process SIGKILLed mid-batch: its messages go to the survivor" },
  { id: "G-cut", title: "connections cut, broker up: reconnect and resume" },
  { id: "G-stall", title: "link frozen: heartbeat detection, then resume" },
  { id: "G-half-open", title: "open connections frozen for good (half-open), new ones pass: the client must reconnect by itself" },
  { id: "G-tls", title: "TLS with a private CA" },
  { id: "G-auth", title: "wrong credentials: AuthenticationFailed fast, no reconnect storm" },
  { id: "G-secrets", title: "credentials appear in no log line, error message or stack" },
  { id: "G-rpc-kill", title: "RPC storm with a server killed: 3,000 requests, 64 in flight, one of 2 server processes SIGKILLed; only requests in flight at the kill or sent within 1 s after it may fail" },
  { id: "G-poison-1x4", title: "poison among healthy traffic: 1,000 messages, 1 poison exits its consumer process (restarted each time), concurrency 4; only the poison is dead-lettered" },
  { id: "G-poison-1x16", title: "poison among healthy traffic: 1 poison, concurrency 16" },
  { id: "G-poison-3x4", title: "poison among healthy traffic: 3 poisons at random positions, concurrency 4" },
  { id: "G-poison-3x16", title: "poison among healthy traffic: 3 poisons at random positions, concurrency 16" },
  { id: "34", caseId: 34, title: "model check: seeded random schedule against the model" },
]

export const faultInfo = (id: FaultId): FaultInfo => {
  const info = FAULTS.find((f) => f.id === id)
  if (info === undefined) throw new Error(`no fault ${id}`)
  return info
}
