/**
 * URL + options → connection settings, and the naming of every topic and
 * consumer group the adapter creates (one place, so residue checks and
 * cleanup agree with creation).
 *
 *   kafka://[user:pass@]host:port[,host:port...][?sasl=plain|scram-sha-256|scram-sha-512&tls=true&prefix=omnibus&partitions=6&replicationFactor=3&minInsyncReplicas=2&heartbeatMs=5000&requestTimeoutMs=30000&rpcLeaseMs=10000&cloudEvents=true&cloudEventsSource=...]
 */
import { createHash } from "node:crypto"
import { cloudEventsSettings, DEFAULT_MAX_PAYLOAD_BYTES, defaultCloudEventsSource, hostPort, InvalidOptions, InvalidUrl, parseClusterUrl, redactUrl } from "@omnibus/core/adapter"
import type { CloudEventsSettings, TransportOptions } from "@omnibus/core/adapter"
import { eventTopics, type EventTopics } from "./event-topics.ts"

export interface ConnectionConfig {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  readonly ssl: boolean | Readonly<Record<string, unknown>> | undefined
  readonly sasl: { readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; readonly username: string; readonly password: string } | undefined
  /** The client's per-request timeout (@platformatic/kafka `requestTimeout`); a timed-out request closes its connection. */
  readonly requestTimeoutMs: number
  /** Dead-link detection period and deadline (0 = off), see client.ts. */
  readonly heartbeatMs: number
  /** How the topics the adapter creates are replicated (client.ts createTopics). */
  readonly replication: TopicReplication
}

/**
 * Replicas of each topic the adapter creates and the in-sync copies a write
 * (acks=all) needs. Unset: three replicas where the cluster has three brokers or
 * more (fewer on a smaller one) and min.insync.replicas 2 with three or more, so a
 * confirmed publish is on two brokers and survives the death of any one
 * (docs/clusters.md); on a single broker nothing changes.
 */
export interface TopicReplication {
  readonly factor: number | undefined
  readonly minInsync: number | undefined
}

export interface AdapterConfig {
  readonly connection: ConnectionConfig
  readonly redacted: string
  readonly prefix: string
  readonly partitions: number
  readonly connectTimeoutMs: number
  readonly leaseMs: number
  /** Session of RPC server members (default leaseMs): they hold no durable work, so a short one costs only a cheap rebalance. */
  readonly rpcLeaseMs: number
  readonly maxPayloadBytes: number
  /** Published events also carry the Kafka binding's CloudEvents headers (undefined: off). */
  readonly cloudEvents: CloudEventsSettings | undefined
  /** Where events are written and read (event-topics.ts); `<prefix>.events` unless the `eventTopics` option maps patterns to topics. */
  readonly eventTopics: EventTopics
}

const positiveInt = (option: string, v: unknown, fallback: number, zeroOk = false): number => {
  if (v === undefined || v === null || v === "") return fallback
  const n = typeof v === "string" ? Number(v) : v
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || (n === 0 && !zeroOk)) {
    throw new InvalidOptions({ option, reason: zeroOk ? "must be a non-negative integer" : "must be a positive integer" })
  }
  return n
}

const optionalPositiveInt = (option: string, value: unknown): number | undefined =>
  value === undefined || value === null ? undefined : positiveInt(option, value, 1)

export const parseConfig = (url: string, options: TransportOptions): AdapterConfig => {
  const redacted = redactUrl(url)
  const { url: parsed, hosts: listed } = parseClusterUrl(url, ["kafka"])
  if (parsed.pathname.length > 1 || parsed.hash) throw new InvalidUrl({ url: redacted, reason: "expected kafka://[user:pass@]host:port[,host:port]" })
  const hosts = listed.map((h) => {
    if (!h.hostname || !h.port) throw new InvalidUrl({ url: redacted, reason: `broker "${h.hostname}" needs host:port` })
    return hostPort(h, 0)
  })
  const query = parsed.searchParams
  let sasl: ConnectionConfig["sasl"]
  if (parsed.username || parsed.password) {
    const [u, p] = [parsed.username, parsed.password]
    const mech = (query.get("sasl") ?? (options.sasl as string | undefined) ?? "plain").toLowerCase()
    if (mech !== "plain" && mech !== "scram-sha-256" && mech !== "scram-sha-512") {
      throw new InvalidOptions({ option: "sasl", reason: "must be plain, scram-sha-256 or scram-sha-512" })
    }
    sasl = { mechanism: mech, username: decodeURIComponent(u ?? ""), password: decodeURIComponent(p ?? "") }
  }
  const tlsParam = query.get("tls") ?? query.get("ssl")
  let ssl: ConnectionConfig["ssl"]
  if (typeof options.tls === "object" && options.tls !== null) ssl = options.tls as Record<string, unknown>
  else if (tlsParam === "true" || tlsParam === "1" || options.tls === true) ssl = true
  const prefix = query.get("prefix") ?? (typeof options.topicPrefix === "string" ? options.topicPrefix : "omnibus")
  if (!/^[A-Za-z0-9-]+$/.test(prefix)) throw new InvalidOptions({ option: "topicPrefix", reason: "letters, digits and - only" })
  const maxPayloadBytes = positiveInt("maxPayloadBytes", options.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES)
  const cloudEvents = cloudEventsSettings(
    { cloudEvents: query.get("cloudEvents") ?? options.cloudEvents, cloudEventsSource: query.get("cloudEventsSource") ?? options.cloudEventsSource },
    defaultCloudEventsSource("kafka", names(prefix).events),
  )
  return {
    connection: {
      brokers: hosts,
      clientId: typeof options.clientId === "string" ? options.clientId : "omnibus",
      ssl,
      sasl,
      requestTimeoutMs: positiveInt("requestTimeoutMs", query.get("requestTimeoutMs") ?? options.requestTimeoutMs, 30_000),
      heartbeatMs: positiveInt("heartbeatMs", query.get("heartbeatMs") ?? options.heartbeatMs, 5_000, true),
      replication: {
        factor: optionalPositiveInt("replicationFactor", query.get("replicationFactor") ?? options.replicationFactor),
        minInsync: optionalPositiveInt("minInsyncReplicas", query.get("minInsyncReplicas") ?? options.minInsyncReplicas),
      },
    },
    redacted,
    prefix,
    partitions: positiveInt("partitions", query.get("partitions") ?? options.partitions, 6),
    connectTimeoutMs: positiveInt("connectTimeoutMs", options.connectTimeoutMs, 10_000),
    // Kafka's session timeout: a member silent this long loses its partitions.
    leaseMs: positiveInt("leaseMs", options.leaseMs, 10_000),
    rpcLeaseMs: positiveInt("rpcLeaseMs", query.get("rpcLeaseMs") ?? options.rpcLeaseMs, positiveInt("leaseMs", options.leaseMs, 10_000)),
    maxPayloadBytes,
    cloudEvents,
    eventTopics: eventTopics(options.eventTopics, names(prefix)),
  }
}

/**
 * Kafka topic names allow [A-Za-z0-9._-] only, group names more (":", "+",
 * "@", "$", any letter). Escape everything else (and "_" itself) as _xx hex
 * bytes: injective, so two groups never share a topic. Long names keep a hash.
 */
export const topicWord = (name: string): string => {
  let out = ""
  for (const ch of name) {
    if (/[A-Za-z0-9.-]/.test(ch)) out += ch
    else for (const b of Buffer.from(ch, "utf8")) out += "_" + b.toString(16).padStart(2, "0")
  }
  if (out.length > 180) out = out.slice(0, 140) + "_" + createHash("sha256").update(name).digest("hex").slice(0, 32)
  return out
}

/** The name a topic word stands for, or undefined when it is not one topicWord writes (a hashed long name). */
export const fromTopicWord = (word: string): string | undefined => {
  const bytes: Array<number> = []
  for (let i = 0; i < word.length; ) {
    const escaped = word[i] === "_" ? /^_([0-9a-f]{2})/.exec(word.slice(i)) : null
    if (escaped) {
      bytes.push(parseInt(escaped[1]!, 16))
      i += 3
    } else {
      bytes.push(...Buffer.from(word[i]!, "utf8"))
      i++
    }
  }
  const name = Buffer.from(bytes).toString("utf8")
  return topicWord(name) === word ? name : undefined
}

export interface Names {
  readonly events: string
  retry(group: string): string
  dlq(group: string): string
  rpc(method: string): string
  reply(clientId: string): string
  /** Consumer groups (group ids accept any string). */
  groupId(group: string): string
  retryGroupId(group: string): string
  dlqGroupId(group: string): string
  rpcGroupPrefix(method: string): string
  rpcGroupId(method: string, group: string): string
  replyGroupId(clientId: string): string
  /** Is the topic one of the above (events, a group's retry or dead letters, a method's requests, replies)? */
  owns(topic: string): boolean
}

export const names = (prefix: string): Names => ({
  events: `${prefix}.events`,
  retry: (g) => `${prefix}.g.${topicWord(g)}.retry`,
  dlq: (g) => `${prefix}.g.${topicWord(g)}.dlq`,
  rpc: (m) => `${prefix}.rpc.${topicWord(m)}`,
  reply: (id) => `${prefix}.reply.${id}`,
  groupId: (g) => `${prefix}/${g}`,
  retryGroupId: (g) => `${prefix}/${g}/retry`,
  dlqGroupId: (g) => `${prefix}/${g}/dlq`,
  rpcGroupPrefix: (m) => `${prefix}/rpc/${m}/`,
  rpcGroupId: (m, g) => `${prefix}/rpc/${m}/${g}`,
  replyGroupId: (id) => `${prefix}/reply/${id}`,
  owns: (topic) => topic === `${prefix}.events` || [`${prefix}.g.`, `${prefix}.rpc.`, `${prefix}.reply.`].some((start) => topic.startsWith(start)),
})
