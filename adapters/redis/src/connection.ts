/**
 * Connections. The URL is parsed here (not by ioredis) so TLS, ACL user and
 * password are explicit and the URL never reaches a log: every error names
 * the redacted URL only. Each client gets an "error" listener, since ioredis
 * prints unhandled error events to the console.
 */
import { isIP } from "node:net"
import type { ConnectionOptions as TlsOptions } from "node:tls"
import { Redis, type RedisOptions } from "ioredis"
import { AuthenticationFailed, ConnectionFailed, InvalidUrl, parseBrokerUrl, redactUrl } from "@omnibus/core/adapter"

export interface ConnectionSettings {
  readonly options: RedisOptions
  readonly safeUrl: string
}

export const parseRedisUrl = (url: string, connectTimeoutMs: number, tls?: TlsOptions): ConnectionSettings => {
  const safeUrl = redactUrl(url)
  const u = parseBrokerUrl(url, ["redis", "rediss"])
  const scheme = u.protocol.replace(/:$/, "").toLowerCase()
  const port = u.port === "" ? 6379 : Number(u.port)
  const dbText = u.pathname.replace(/^\//, "")
  const db = dbText === "" ? 0 : Number(dbText)
  if (!Number.isInteger(db) || db < 0) throw new InvalidUrl({ url: safeUrl, reason: `database "${dbText}" is not a number` })
  const host = u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1"
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
    ...(scheme === "rediss" ? { tls: { ...(isIP(host) === 0 ? { servername: host } : {}), ...tls } } : {}),
  }
  return { options, safeUrl }
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
  const client = new Redis({ ...settings.options, connectionName: name })
  return new Promise<Redis>((resolve, reject) => {
    let lastError: unknown
    const finish = (error: Error | undefined) => {
      clearTimeout(timer)
      client.off("ready", onReady)
      client.off("error", onError)
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
  client.on("error", (e: unknown) => {
    if (isAuthError(e)) {
      client.disconnect(false)
      onFatal(e as Error)
    }
  })
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
