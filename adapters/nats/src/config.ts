/**
 * URL + TransportOptions → nats.js connection options and the adapter's
 * naming settings. Credentials are read here and never logged: every message
 * that names the server uses `redactUrl`.
 */
import { readFileSync } from "node:fs"
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core"
import type { Authenticator } from "@nats-io/nats-core"
import type { NodeConnectionOptions } from "@nats-io/transport-node"

type NodeTlsOptions = NonNullable<NodeConnectionOptions["tls"]>
import { cloudEventsSettings, DEFAULT_MAX_PAYLOAD_BYTES, defaultCloudEventsSource, hostListOption, hostPort, InvalidOptions, InvalidUrl, parseClusterUrl, redactUrl } from "@omnibus/core/adapter"
import type { CloudEventsSettings } from "@omnibus/core/adapter"
import type { TransportOptions } from "@omnibus/core"

export interface NatsSettings {
  /** The URL with credentials removed, for messages. */
  readonly safeUrl: string
  /** host:port of every server the URL or the `servers` option names (nats.js tries them all). */
  readonly servers: ReadonlyArray<string>
  /**
   * Replicas of the streams the adapter creates (consumers follow their stream): the
   * `replicas` option, else 3 when several servers are named, else undefined: 1 on a
   * single server, or the cluster's size up to 3 once the connected server says it is
   * clustered (streamReplicas in connection.ts).
   */
  readonly replicas: number | undefined
  readonly connection: NodeConnectionOptions
  readonly connectTimeoutMs: number
  /** Ack wait of every group consumer (the lease). */
  readonly leaseMs: number
  readonly maxPayloadBytes: number
  /** Events stream name; its subjects are `<stream>.>`. */
  readonly stream: string
  readonly deadLetterStream: string
  readonly replayStream: string
  readonly failureStream: string
  readonly blobStream: string
  readonly rpcPrefix: string
  /** How long one pull request waits on the server. */
  readonly pullExpiresMs: number
  /** How long a publish keeps retrying (same msg id) across a reconnect. */
  readonly publishTimeoutMs: number
  readonly blobMaxAgeMs: number
  readonly duplicateWindowMs: number
  /** Published events also carry the NATS binding's CloudEvents headers (undefined: off). */
  readonly cloudEvents: CloudEventsSettings | undefined
}

const str = (options: TransportOptions, name: string): string | undefined => {
  const v = options[name]
  if (v === undefined) return undefined
  if (typeof v !== "string" || v.length === 0) throw new InvalidOptions({ option: name, reason: "must be a non-empty string" })
  return v
}

const num = (options: TransportOptions, name: string, fallback: number, min = 1): number => {
  const v = options[name]
  if (v === undefined) return fallback
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new InvalidOptions({ option: name, reason: `must be a number >= ${min}` })
  return v
}

const NAME = /^[A-Za-z0-9_-]+$/

const name = (options: TransportOptions, option: string, fallback: string): string => {
  const v = str(options, option) ?? fallback
  if (!NAME.test(v)) throw new InvalidOptions({ option, reason: "must match [A-Za-z0-9_-]+ (it names a stream and a subject word)" })
  return v
}

const replicasOption = (options: TransportOptions, query: URLSearchParams): number | undefined => {
  const v = options["replicas"] ?? query.get("replicas") ?? undefined
  if (v === undefined) return undefined
  const n = typeof v === "string" ? Number(v) : v
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 5) throw new InvalidOptions({ option: "replicas", reason: "must be an integer from 1 to 5 (JetStream's limit)" })
  return n
}

export const parseSettings = (url: string, options: TransportOptions): NatsSettings => {
  const safeUrl = redactUrl(url)
  const { url: u, hosts } = parseClusterUrl(url, ["nats", "tls"])
  const scheme = u.protocol.replace(/:$/, "").toLowerCase()
  // nats.js takes host:port (the NATS port when none is given); the URL's first host may be empty (nats:// alone)
  const servers = [...new Set([...hosts, ...hostListOption("servers", options["servers"], "nats")].map((h) => hostPort(h.hostname ? h : { ...h, hostname: "127.0.0.1" }, 4222)))]
  const replicas = replicasOption(options, u.searchParams) ?? (servers.length > 1 ? 3 : undefined)
  const connection: NodeConnectionOptions & { authenticator?: Authenticator } = {
    servers,
    // nats.js shuffles the list (spreads clients over the nodes); false keeps the listed order.
    noRandomize: options["randomizeServers"] === false,
    name: str(options, "connectionName") ?? "omnibus",
    // We loop on the first connect ourselves (typed errors, deadline); later drops reconnect forever.
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: num(options, "reconnectTimeWaitMs", 250),
    reconnectJitter: 100,
    pingInterval: num(options, "pingIntervalMs", 10_000),
    maxPingOut: 3,
    // nats.js otherwise builds two Error objects (stack capture) for every request, i.e. every
    // publish (PubAck) and every confirmed ack; the adapter reports failures as its own typed errors.
    noAsyncTraces: true,
  }
  const q = u.searchParams
  const user = decodeURIComponent(u.username)
  const pass = decodeURIComponent(u.password)
  const token = str(options, "token") ?? q.get("token") ?? (user && !pass ? user : undefined)
  if (token !== undefined && token !== "") connection.token = token
  else if (user) {
    connection.user = user
    connection.pass = pass
  }
  if (str(options, "user") !== undefined) {
    connection.user = str(options, "user")
    connection.pass = str(options, "pass") ?? ""
  }
  const seed = str(options, "nkeySeed") ?? q.get("nkey") ?? undefined
  const credsFile = str(options, "credsFile") ?? q.get("creds") ?? undefined
  if (seed) connection.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed))
  else if (credsFile) {
    let creds: Uint8Array
    try {
      creds = readFileSync(credsFile)
    } catch {
      throw new InvalidOptions({ option: "credsFile", reason: "cannot be read" })
    }
    connection.authenticator = credsAuthenticator(creds)
  }
  const tlsOption = options["tls"]
  if (tlsOption !== undefined && (typeof tlsOption !== "object" || tlsOption === null)) {
    throw new InvalidOptions({ option: "tls", reason: "must be an object ({ caFile, certFile, keyFile, ca, cert, key, rejectUnauthorized })" })
  }
  const tls: NodeTlsOptions = { ...(tlsOption as NodeTlsOptions | undefined) }
  for (const [param, key] of [["tls_ca", "caFile"], ["tls_cert", "certFile"], ["tls_key", "keyFile"]] as const) {
    const v = q.get(param)
    if (v) tls[key] = v
  }
  if (scheme === "tls" || tlsOption !== undefined || Object.keys(tls).length > 0) connection.tls = tls
  const stream = name(options, "stream", "events")
  const leaseMs = num(options, "leaseMs", 30_000, 100)
  return {
    safeUrl,
    servers,
    replicas,
    connection,
    connectTimeoutMs: num(options, "connectTimeoutMs", 10_000),
    leaseMs,
    maxPayloadBytes: num(options, "maxPayloadBytes", DEFAULT_MAX_PAYLOAD_BYTES),
    stream,
    deadLetterStream: name(options, "deadLetterStream", "omnibus-dlq"),
    replayStream: name(options, "replayStream", "omnibus-replay"),
    failureStream: name(options, "failureStream", "omnibus-failures"),
    blobStream: name(options, "blobStream", "omnibus-blobs"),
    rpcPrefix: name(options, "rpcPrefix", "rpc"),
    pullExpiresMs: num(options, "pullExpiresMs", 5_000, 1_000),
    publishTimeoutMs: num(options, "publishTimeoutMs", 30_000),
    blobMaxAgeMs: num(options, "blobMaxAgeMs", 7 * 24 * 3600_000),
    duplicateWindowMs: num(options, "duplicateWindowMs", 120_000, 100),
    cloudEvents: cloudEventsSettings(options, defaultCloudEventsSource("nats", stream)),
  }
}
