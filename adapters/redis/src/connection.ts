/**
 * Connections. The URL is parsed here (not by ioredis) so TLS, ACL user and
 * password are explicit and the URL never reaches a log: every error names
 * the redacted URL only. Each client gets an "error" listener, since ioredis
 * prints unhandled error events to the console.
 *
 * Redis Cluster: a URL naming several hosts (`redis://h1:7001,h2:7002`) or
 * saying `cluster=true` opens ioredis `Cluster` clients seeded with those
 * hosts. They follow MOVED/ASK and failovers (slot table refreshed, commands
 * re-sent) and serve every command the adapter sends: each one, script and
 * pipeline touches keys of one namespace, which share one hash slot (keys.ts).
 */
import { isIP } from "node:net"
import type { ConnectionOptions as TlsOptions } from "node:tls"
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis"
import { AuthenticationFailed, ConnectionFailed, InvalidOptions, InvalidUrl, parseClusterUrl, redactUrl, type BrokerHost } from "@omnibus/core/adapter"

export interface ClusterNodeAddress {
  readonly host: string
  readonly port: number
}

export interface ConnectionSettings {
  readonly options: RedisOptions
  readonly safeUrl: string
  /** Redis Cluster: the seed nodes (the client learns the others from them); undefined for one server. */
  readonly cluster?: ReadonlyArray<ClusterNodeAddress> | undefined
  /** The URL's query parameters: adapter options may be given there (the options object wins). */
  readonly query: URLSearchParams
}

const address = ({ hostname, port }: BrokerHost): ClusterNodeAddress => ({
  host: hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
  port: port === "" ? 6379 : Number(port),
})

/** `cluster` as an option (a boolean) or URL parameter ("true"/"false"): true, false or undefined (not said). */
const clusterFlag = (option: unknown, param: string | null, safeUrl: string): boolean | undefined => {
  if (option !== undefined && option !== null) {
    if (typeof option !== "boolean") throw new InvalidOptions({ option: "cluster", reason: `must be true or false, got ${JSON.stringify(option)}` })
    return option
  }
  if (param === null) return undefined
  if (param === "true" || param === "1") return true
  if (param === "false" || param === "0") return false
  throw new InvalidUrl({ url: safeUrl, reason: `cluster must be true or false, got ${JSON.stringify(param)}` })
}

/**
 * Parses the URL; `clusterOption` is the transport's `cluster` option (it wins over the
 * URL's `cluster` parameter). Several hosts mean a cluster unless cluster=false says otherwise,
 * which is refused: one server has one address.
 */
export const parseRedisUrl = (url: string, connectTimeoutMs: number, tls?: TlsOptions, clusterOption?: unknown): ConnectionSettings => {
  const safeUrl = redactUrl(url)
  const { url: u, hosts } = parseClusterUrl(url, ["redis", "rediss"])
  const scheme = u.protocol.replace(/:$/, "").toLowerCase()
  const nodes = hosts.map(address)
  const { host, port } = nodes[0]!
  const dbText = u.pathname.replace(/^\//, "")
  const db = dbText === "" ? 0 : Number(dbText)
  if (!Number.isInteger(db) || db < 0) throw new InvalidUrl({ url: safeUrl, reason: `database "${dbText}" is not a number` })
  const query = new URLSearchParams(u.searchParams)
  const said = clusterFlag(clusterOption, query.get("cluster"), safeUrl)
  if (said === false && nodes.length > 1) throw new InvalidUrl({ url: safeUrl, reason: "several hosts name a Redis Cluster's nodes, but cluster=false" })
  const cluster = said ?? nodes.length > 1
  if (cluster && db !== 0) throw new InvalidUrl({ url: safeUrl, reason: `Redis Cluster has database 0 only, not ${db}` })
  const options: RedisOptions = {
    host,
    port,
    db,
    // RESP2 reply shapes are the ones documented for XREADGROUP/XAUTOCLAIM.
    protocol: 2,
    connectTimeout: Math.max(500, Math.min(connectTimeoutMs, 10_000)),
    lazyConnect: true,
    // Commands wait through a reconnect; publish applies its own deadline.
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000) + Math.floor(Math.random() * 50),
    connectionName: "omnibus",
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    // SNI carries host names only (an IP there is deprecated by Node and ignored by RFC 6066)
    // (on a cluster each node's own host is checked: no servername for all)
    ...(scheme === "rediss" ? { tls: { ...(isIP(host) === 0 && !cluster ? { servername: host } : {}), ...tls } } : {}),
  }
  return { options, safeUrl, query, cluster: cluster ? nodes : undefined }
}

/**
 * Errors of a cluster in motion that ioredis gave up following (after `maxRedirections`):
 * the slot has no serving primary yet (failover), or it moves. Worth retrying, unlike a refusal.
 */
export const isClusterTransient = (e: unknown): boolean => e instanceof Error && /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK)\b/.test(e.message)

/**
 * After a redirection or CLUSTERDOWN that ioredis did not follow (it re-sends a pipeline only
 * when every command failed alike, and the keyless WAIT after the scripts succeeds on any node):
 * re-reads the slot table and gives a failover its retry pause (100 ms, as ioredis's own).
 * Nothing to do on one server.
 */
export const followCluster = async (client: Redis, ms: number): Promise<void> => {
  if (!client.isCluster) return
  const deadline = Date.now() + ms
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    ;(client as unknown as Cluster).refreshSlotsCache(() => {
      clearTimeout(timer)
      resolve()
    })
  })
  await new Promise((r) => setTimeout(r, Math.max(0, Math.min(100, deadline - Date.now()))))
}

/**
 * A cluster client (lazy: openClient connects it). Typed as Redis: it takes the same commands,
 * routed by key to the primary of their slot; keyless ones go to any primary, so the adapter sends
 * none that must reach a given node outside a pipeline pinned by a key (WAIT after the routing
 * scripts) and tracks no client ids there (context.ts).
 */
const clusterClient = (settings: ConnectionSettings, nodes: ReadonlyArray<ClusterNodeAddress>, name: string): Redis => {
  const { host: _h, port: _p, db: _db, retryStrategy, lazyConnect: _l, enableOfflineQueue: _q, ...redisOptions } = settings.options
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: true,
    // the whole cluster unreachable: reconnect as one server would
    clusterRetryStrategy: (times) => retryStrategy?.(times) ?? 1_000,
    // Commands wait through a failover (a dead primary's replica takes over after cluster-node-timeout):
    // re-sent every 100 ms for about the connect timeout (ioredis's default gives up after 16 tries,
    // 1.6 s), then rejected; publishes, reads and RPC loops retry on top.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: Math.max(16, Math.ceil((settings.options.connectTimeout ?? 10_000) / 100)),
    redisOptions: { ...redisOptions, connectionName: name },
  }
  return new Cluster(nodes.map((n) => ({ host: n.host, port: n.port })), options) as unknown as Redis
}


const AUTH_ERROR = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i

export const isAuthError = (e: unknown): boolean => e instanceof Error && AUTH_ERROR.test(e.message)

/** Removes anything that looks like credentials from a client error message. */
export const describe = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e)
  return text.replace(/\/\/[^@\s/]*@/g, "//***@")
}

/**
 * Opens a client and waits for "ready". Credentials refused: AuthenticationFailed
 * at once (the client is shut so it does not retry in a loop). Unreachable
 * past the deadline: ConnectionFailed.
 */
export const openClient = (settings: ConnectionSettings, deadlineMs: number, name: string): Promise<Redis> => {
  const client = settings.cluster ? clusterClient(settings, settings.cluster, name) : new Redis({ ...settings.options, connectionName: name })
  return new Promise<Redis>((resolve, reject) => {
    let lastError: unknown
    const finish = (error: Error | undefined) => {
      clearTimeout(timer)
      client.off("ready", onReady)
      client.off("error", onError)
      client.off("node error", onError)
      if (error) {
        client.on("error", () => {})
        client.disconnect(false)
        reject(error)
      } else {
        resolve(client)
      }
    }
    const onReady = () => finish(undefined)
    const onError = (e: unknown) => {
      lastError = e
      if (isAuthError(e)) finish(new AuthenticationFailed({ url: settings.safeUrl, reason: describe(e) }))
    }
    const timer = setTimeout(
      () => finish(new ConnectionFailed({ url: settings.safeUrl, reason: lastError ? describe(lastError) : `not ready within ${deadlineMs} ms` })),
      deadlineMs,
    )
    client.on("ready", onReady)
    client.on("error", onError)
    // a cluster reports what its nodes refused as "node error" (its "error" says only that none answered)
    client.on("node error", onError)
    client.connect().catch((e: unknown) => {
      lastError = e
      if (isAuthError(e)) finish(new AuthenticationFailed({ url: settings.safeUrl, reason: describe(e) }))
    })
  })
}

/**
 * A client that later meets an auth refusal (password rotated) stops
 * reconnecting instead of storming the server.
 */
export const guard = (client: Redis, onFatal: (e: Error) => void): void => {
  const onError = (e: unknown) => {
    if (isAuthError(e)) {
      client.disconnect(false)
      onFatal(e as Error)
    }
  }
  client.on("error", onError)
  client.on("node error", onError)
}

/** Resolves when the client is ready (now or after a reconnect), or rejects after `ms`. */
export const whenReady = (client: Redis, ms: number): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    if (client.status === "ready") return resolve(true)
    if (client.status === "end") return resolve(false)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      client.off("ready", onReady)
      client.off("end", onEnd)
      resolve(ok)
    }
    const onReady = () => done(true)
    const onEnd = () => done(false)
    const timer = setTimeout(() => done(false), ms)
    client.on("ready", onReady)
    client.on("end", onEnd)
  })
