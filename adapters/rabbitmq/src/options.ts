/**
 * Settings of the RabbitMQ adapter, from the URL's query and TransportOptions
 * (options win). Omnibus' own query parameters are removed from the URL before
 * amqplib sees it; amqplib's (heartbeat, frameMax, vhost path...) stay.
 */
import { cloudEventsSettings, DEFAULT_MAX_PAYLOAD_BYTES, defaultCloudEventsSource, hostListOption, InvalidOptions, parseClusterUrl, redactUrl, type BrokerHost } from "@omnibus/core/adapter"
import type { CloudEventsSettings } from "@omnibus/core/adapter"
import type { TransportOptions } from "@omnibus/core"

export type QueueType = "classic" | "quorum"

/**
 * The id of a message without message_id (a plain AMQP producer's): "fresh", a new id per
 * delivery (default), or "content", a hash of what the broker stores, the same on every
 * redelivery (mapping.ts contentId; README "Foreign message ids").
 */
export type ForeignIds = "fresh" | "content"

export interface RabbitSettings {
  /** The URL handed to amqplib (own query parameters removed; holds credentials: never log it). */
  readonly amqpUrl: string
  /**
   * One such URL per node of a cluster (`amqp://u:p@h1,h2:5673,h3/vh` or the `hosts` option),
   * the first being amqpUrl: the connection takes them in turn (connection.ts).
   */
  readonly amqpUrls: ReadonlyArray<string>
  /** Safe to log. */
  readonly safeUrl: string
  readonly exchange: string
  readonly rpcExchange: string
  readonly queuePrefix: string
  /**
   * The group and delay queues' type: the `queueType` option, else "quorum" when several
   * hosts are named (a classic queue lives on one node), else "classic".
   */
  readonly queueType: QueueType
  /**
   * x-quorum-initial-group-size of the quorum queues the adapter declares: the option, else 3
   * when several hosts are named, else none (the broker's default). A queue that exists
   * without it (or with another size) is used as it is (topology.ts).
   */
  readonly quorumGroupSize: number | undefined
  /** Several hosts: RPC queues are quorum queues too, so a dead node does not take them along (topology.ts). */
  readonly cluster: boolean
  readonly connectTimeoutMs: number
  readonly maxPayloadBytes: number
  /** How long a publish may wait for a reconnect before it fails. */
  readonly publishTimeoutMs: number
  readonly reconnectMaxDelayMs: number
  /** Shown by the broker (client property connection_name). */
  readonly connectionName: string
  readonly foreignIds: ForeignIds
  /** Published events also carry the AMQP binding's CloudEvents application properties (undefined: off). */
  readonly cloudEvents: CloudEventsSettings | undefined
}

/** Query parameters / option names this adapter understands. */
const OWN = ["connectionName", "exchange", "rpcExchange", "queuePrefix", "queueType", "quorumGroupSize", "publishTimeoutMs", "reconnectMaxDelayMs", "foreignIds", "cloudEvents", "cloudEventsSource"] as const
/** RabbitMQ 3.10's default max_message_size is 128 MiB; beyond it the broker closes the channel. */
const BROKER_MAX_PAYLOAD = 128 * 1024 * 1024

const positive = (option: string, value: unknown, fallback: number): number => {
  if (value === undefined || value === null || value === "") return fallback
  const n = typeof value === "string" ? Number(value) : value
  if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) throw new InvalidOptions({ option, reason: `must be a positive number, got ${JSON.stringify(value)}` })
  return n
}

const text = (option: string, value: unknown, fallback: string, allowEmpty = false): string => {
  if (value === undefined || value === null) return fallback
  if (typeof value !== "string" || (!allowEmpty && value.length === 0) || Buffer.byteLength(value) > 200) {
    throw new InvalidOptions({ option, reason: `must be a non-empty string of at most 200 bytes, got ${JSON.stringify(value)}` })
  }
  return value
}

/** `parsed` with another host: every node gets the first one's credentials, vhost and amqplib parameters. */
const withHost = (parsed: URL, host: BrokerHost): string => {
  const u = new URL(parsed.toString())
  u.hostname = host.hostname
  u.port = host.port
  return u.toString()
}

export const parseSettings = (url: string, options: TransportOptions): RabbitSettings => {
  const { url: parsed, hosts } = parseClusterUrl(url, ["amqp", "amqps"])
  const query: Record<string, string> = {}
  for (const name of OWN) {
    const v = parsed.searchParams.get(name)
    if (v !== null) query[name] = v
    parsed.searchParams.delete(name)
  }
  const pick = (name: (typeof OWN)[number]): unknown => options[name] ?? query[name]
  // Every host gets the first one's credentials, vhost and amqplib parameters.
  const urls = [...new Set([...hosts, ...hostListOption("hosts", options["hosts"], "amqp")].map((h) => withHost(parsed, h)))]
  const cluster = urls.length > 1
  const queueType = text("queueType", pick("queueType"), cluster ? "quorum" : "classic")
  if (queueType !== "classic" && queueType !== "quorum") throw new InvalidOptions({ option: "queueType", reason: `must be "classic" or "quorum", got ${JSON.stringify(queueType)}` })
  const foreignIds = text("foreignIds", pick("foreignIds"), "fresh")
  if (foreignIds !== "fresh" && foreignIds !== "content") throw new InvalidOptions({ option: "foreignIds", reason: `must be "fresh" or "content", got ${JSON.stringify(foreignIds)}` })
  const groupSize = pick("quorumGroupSize")
  const quorumGroupSize = groupSize === undefined && !cluster ? undefined : positive("quorumGroupSize", groupSize, 3)
  if (quorumGroupSize !== undefined && !Number.isInteger(quorumGroupSize)) throw new InvalidOptions({ option: "quorumGroupSize", reason: "must be a whole number" })
  const maxPayloadBytes = positive("maxPayloadBytes", options.maxPayloadBytes, DEFAULT_MAX_PAYLOAD_BYTES)
  if (maxPayloadBytes > BROKER_MAX_PAYLOAD) throw new InvalidOptions({ option: "maxPayloadBytes", reason: `RabbitMQ's default max_message_size is ${BROKER_MAX_PAYLOAD} bytes` })
  const prefix = text("queuePrefix", pick("queuePrefix"), "omnibus.", true)
  const exchange = text("exchange", pick("exchange"), "events")
  return {
    amqpUrl: urls[0]!,
    amqpUrls: urls,
    safeUrl: cluster ? `${redactUrl(urls[0]!)} (hosts ${urls.map((u) => new URL(u).host).join(",")})` : redactUrl(urls[0]!),
    exchange,
    rpcExchange: text("rpcExchange", pick("rpcExchange"), `${prefix}rpc`),
    queuePrefix: prefix,
    queueType,
    quorumGroupSize,
    cluster,
    connectTimeoutMs: positive("connectTimeoutMs", options.connectTimeoutMs, 15_000),
    maxPayloadBytes,
    publishTimeoutMs: positive("publishTimeoutMs", pick("publishTimeoutMs"), 60_000),
    reconnectMaxDelayMs: positive("reconnectMaxDelayMs", pick("reconnectMaxDelayMs"), 5_000),
    connectionName: text("connectionName", pick("connectionName"), "omnibus"),
    foreignIds,
    cloudEvents: cloudEventsSettings({ cloudEvents: pick("cloudEvents"), cloudEventsSource: pick("cloudEventsSource") }, defaultCloudEventsSource("rabbitmq", exchange)),
  }
}
