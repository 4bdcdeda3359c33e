/**
 * Opening the NATS connection with typed errors: AuthenticationFailed at once
 * (no retry storm), ConnectionFailed once connectTimeoutMs has passed while the
 * server stayed unreachable. After the first connect nats.js reconnects by
 * itself (forever, with backoff); `Link` tracks the state and tells the
 * consumers when a reconnect happened so they re-issue their pull requests.
 */
import { connect } from "@nats-io/transport-node"
import { AuthorizationError, UserAuthenticationExpiredError } from "@nats-io/nats-core"
import type { NatsConnection } from "@nats-io/nats-core"
import { AuthenticationFailed, ConnectionFailed } from "@omnibus/core"
import type { NatsSettings } from "./config.ts"

const isAuthError = (e: unknown): boolean => {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    if (c instanceof AuthorizationError || c instanceof UserAuthenticationExpiredError) return true
    if (/authori[sz]ation violation|authentication/i.test(c.message)) return true
  }
  return false
}

/** A short, credential-free reason for an error. */
export const reasonOf = (e: unknown): string => {
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? ` (${e.cause.message})` : ""
    return `${e.message}${cause}`
  }
  return String(e)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export const openConnection = async (settings: NatsSettings): Promise<NatsConnection> => {
  const deadline = Date.now() + settings.connectTimeoutMs
  let wait = 100
  for (;;) {
    const remaining = deadline - Date.now()
    try {
      return await connect({ ...settings.connection, timeout: Math.max(200, Math.min(remaining, 5_000)) })
    } catch (e) {
      if (isAuthError(e)) throw new AuthenticationFailed({ url: settings.safeUrl, reason: "the server rejected the credentials" })
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new ConnectionFailed({ url: settings.safeUrl, reason: `not reachable within ${settings.connectTimeoutMs} ms: ${reasonOf(e)}` })
      }
      await sleep(Math.min(wait, left))
      wait = Math.min(wait * 2, 2_000)
    }
  }
}

/** Connection state shared by the adapter's parts. */
export class Link {
  readonly nc: NatsConnection
  connected = true
  closing = false
  aborted = false
  lastError: string | undefined
  private readonly reconnectListeners = new Set<() => void>()

  constructor(nc: NatsConnection) {
    this.nc = nc
    void this.watch()
  }

  private async watch(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === "disconnect") this.connected = false
        else if (s.type === "reconnect") {
          this.connected = true
          for (const l of [...this.reconnectListeners]) l()
        } else if (s.type === "error") this.lastError = reasonOf(s.error)
      }
    } catch {
      // status iterator ends with the connection
    }
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener)
    return () => this.reconnectListeners.delete(listener)
  }

  get usable(): boolean {
    return !this.closing && !this.aborted && !this.nc.isClosed()
  }
}
