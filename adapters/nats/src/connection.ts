/**
 * Opening the NATS connection with typed errors: AuthenticationFailed at once
 * (no retry storm), ConnectionFailed once connectTimeoutMs has passed while the
 * server stayed unreachable. After the first connect nats.js reconnects by
 * itself (forever, with backoff); `Link` tracks the state and tells the
 * consumers when a reconnect happened so they re-issue their pull requests.
 */
import { connect } from "@nats-io/transport-node"
import { AuthorizationError, createInbox, UserAuthenticationExpiredError } from "@nats-io/nats-core"
import type { Msg, MsgHdrs, NatsConnection, Server, Subscription } from "@nats-io/nats-core"
import { AuthenticationFailed, ConnectionFailed } from "@omnibus/core"
import type { NatsSettings } from "./config.ts"
import { statusOf } from "./wire.ts"

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

/** The connection opened for each settings object: its INFO is the server's, refreshed by nats.js on reconnect. */
const connections = new WeakMap<NatsSettings, NatsConnection>()

/**
 * Whether the server the settings' connection is on takes several filter subjects
 * per consumer (filter_subjects, nats-server 2.10+). Read from the server's INFO,
 * never from an option; false before the connection exists or for an unknown version.
 */
export const supportsMultiFilter = (settings: NatsSettings): boolean => {
  const m = /^v?(\d+)\.(\d+)/.exec(connections.get(settings)?.info?.version ?? "")
  return m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 10))
}

/**
 * Replicas of the streams the adapter creates: the configured number, else (one server
 * named) 1 on a single server and, when the server says it is clustered (INFO `cluster`),
 * the number of servers it advertises up to 3: R1 on a cluster would lose what a dead
 * node held.
 */
export const streamReplicas = (settings: NatsSettings): number => {
  if (settings.replicas !== undefined) return settings.replicas
  const info = connections.get(settings)?.info
  return info?.cluster ? Math.min(3, Math.max(1, info.connect_urls?.length ?? 1)) : 1
}

/**
 * Tries `attempt` (given the time left) until it succeeds, waiting 100 ms doubling to 2 s between
 * tries, the last wait cut to `deadline`; a failure `retryable` refuses, or one at the deadline, is
 * thrown as `giveUp` makes it.
 */
export const retryUntil = async <A>(deadline: number, attempt: (remainingMs: number) => Promise<A>, retryable: (e: unknown) => boolean, giveUp: (e: unknown) => unknown = (e) => e): Promise<A> => {
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await attempt(deadline - Date.now())
    } catch (e) {
      const left = deadline - Date.now()
      if (!retryable(e) || left <= 0) throw giveUp(e)
      await sleep(Math.min(wait, left))
    }
  }
}

/**
 * A cluster electing its JetStream leaders (a node just died or restarted) answers the JetStream API
 * (account info, stream and consumer info) with a timeout for a few seconds: worth asking again.
 * A cluster that has just formed can pass every node's /healthz before its meta leader has heard
 * from enough peers to place a replicated stream ("no suitable peers for placement", seen on
 * 2.10.27 as the cluster suite started): the same, until the caller's deadline.
 */
export const electing = (e: unknown): boolean => /timeout|no suitable peers/i.test(reasonOf(e))

/**
 * Which server a reconnect dials (nats.js's `reconnectToServer`). Its default is the head of the
 * pool, which after a forced reconnect is the server just left: a move away names the server to avoid.
 */
export class ServerPick {
  private avoid: string | undefined

  /** The next reconnect goes to another server than `listen` (host:port) if the pool has one. */
  leave(listen: string): void {
    this.avoid = listen
  }

  readonly choose = (pool: ReadonlyArray<Server>): Server | null => {
    const avoid = this.avoid
    if (avoid === undefined) return null
    this.avoid = undefined
    return pool.find((s) => s.listen !== avoid) ?? null
  }
}

export const openConnection = async (settings: NatsSettings, pick?: ServerPick): Promise<NatsConnection> => {
  const nc = await retryUntil(
    Date.now() + settings.connectTimeoutMs,
    (remaining) => connect({ ...settings.connection, timeout: Math.max(200, Math.min(remaining, 5_000)), ...(pick ? { reconnectToServer: pick.choose } : {}) }),
    (e) => !isAuthError(e),
    (e) => isAuthError(e)
      ? new AuthenticationFailed({ url: settings.safeUrl, reason: "the server rejected the credentials" })
      : new ConnectionFailed({ url: settings.safeUrl, reason: `not reachable within ${settings.connectTimeoutMs} ms: ${reasonOf(e)}` }),
  )
  connections.set(settings, nc)
  return nc
}

interface Waiting {
  readonly resolve: (answer: Msg) => void
  readonly reject: (e: Error) => void
  readonly deadline: number
}

/**
 * JetStream failing on this server this long (nothing but timeouts, no responders, ids in flight),
 * with other servers known: the connection moves to another server (Link.jetStreamFailed).
 * Longer than a leader election after a node's death (2-4 s here), when every server fails alike.
 */
const STUCK_MS = 4_000

/** Connection state shared by the adapter's parts. */
export class Link {
  readonly nc: NatsConnection
  connected = true
  closing = false
  aborted = false
  lastError: string | undefined
  /** Start of the oldest JetStream call failing since the last one that got an answer. */
  private failingSince: number | undefined
  private lastMove = 0
  private readonly reconnectListeners = new Set<() => void>()
  /** Confirmations: one wildcard reply subscription for all of them (see confirm). */
  private replies: { readonly sub: Subscription; readonly prefix: string } | undefined
  private readonly waiting = new Map<number, Waiting>()
  private nextToken = 0
  private sweeper: NodeJS.Timeout | undefined
  /** Requests to send at the end of this turn of the event loop: [subject, body, headers, token]. */
  private outbox: Array<readonly [string, string | Uint8Array, MsgHdrs | undefined, number]> = []

  private readonly pick: ServerPick

  constructor(nc: NatsConnection, pick: ServerPick) {
    this.nc = nc
    this.pick = pick
    void this.watch()
    void nc.closed().then(() => this.failWaiting(new Error("connection closed before the server confirmed")))
  }

  /**
   * Publishes `body` to `subject` and resolves when the server answers (e.g. an
   * ack's confirmation). Like nc.request, but on one shared reply subscription
   * and one timeout sweep: nc.request allocates a timer, a deferred and (even
   * once answered) an Error with a stack for every call (about a tenth of the
   * consumer's CPU in profiles). Those of one event-loop turn leave together
   * (settlements come one microtask apart: each would be a socket write).
   */
  confirm(subject: string, body: string, timeoutMs: number): Promise<Msg> {
    return this.ask(subject, body, undefined, timeoutMs)
  }

  /** The same, resolving with the server's answer (a JetStream PubAck to read). */
  ask(subject: string, body: string | Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const token = ++this.nextToken
      this.waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs })
      this.sweeper ??= setInterval(() => this.sweep(), Math.min(1_000, timeoutMs))
      if (this.outbox.push([subject, body, headers, token]) === 1) setImmediate(() => this.sendOutbox())
    })
  }

  /**
   * An RPC request on the same reply subscription, sent at once (a request waits on its
   * reply, a batch would only delay it). No deadline of its own: the caller's signal ends
   * the wait (core's RPC deadline, packages/core/src/rpc/client.ts). A 503 answer rejects
   * with "no responders".
   */
  request(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, signal: AbortSignal): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const token = ++this.nextToken
      const onAbort = () => {
        this.waiting.delete(token)
        reject(signal.reason)
      }
      signal.addEventListener("abort", onAbort, { once: true })
      this.waiting.set(token, {
        resolve: (m) => {
          signal.removeEventListener("abort", onAbort)
          resolve(m)
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort)
          reject(e)
        },
        deadline: Infinity,
      })
      try {
        this.replies ??= this.listen()
        this.nc.publish(subject, data, { reply: `${this.replies.prefix}${token}`, headers })
      } catch (e) {
        this.waiting.get(token)?.reject(e instanceof Error ? e : new Error(String(e)))
        this.waiting.delete(token)
      }
    })
  }

  private sendOutbox(): void {
    const out = this.outbox
    this.outbox = []
    for (const [subject, body, headers, token] of out) {
      try {
        this.replies ??= this.listen()
        this.nc.publish(subject, body, { reply: `${this.replies.prefix}${token}`, headers })
      } catch (e) {
        const w = this.waiting.get(token)
        this.waiting.delete(token)
        w?.reject(e instanceof Error ? e : new Error(String(e)))
      }
    }
  }

  private listen(): { readonly sub: Subscription; readonly prefix: string } {
    const prefix = `${createInbox()}.`
    const sub = this.nc.subscribe(`${prefix}*`, { callback: (_err, msg) => this.answered(msg, prefix.length) })
    return { sub, prefix }
  }

  private answered(msg: Msg, at: number): void {
    const token = Number(msg.subject.slice(at))
    const w = this.waiting.get(token)
    if (!w) return
    this.waiting.delete(token)
    const code = statusOf(msg)
    // 503: nobody listens on the subject (the consumer is gone); other statuses are refusals.
    if (code >= 300) w.reject(new Error(code === 503 ? "no responders" : `${code} ${msg.headers?.description ?? ""}`.trim()))
    else w.resolve(msg)
  }

  /** Rejects confirmations past their deadline. */
  private sweep(): void {
    const now = Date.now()
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) continue
      this.waiting.delete(token)
      w.reject(new Error("timeout waiting for the server to confirm"))
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  private failWaiting(e: Error): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
    const ws = [...this.waiting.values()]
    this.waiting.clear()
    for (const w of ws) w.reject(e)
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

  /** A JetStream call on this connection got its answer (a PubAck). */
  jetStreamAnswered(): void {
    this.failingSince = undefined
  }

  /**
   * A JetStream call started at `startedAt` failed for a reason another server may not have. A
   * server cut off from its cluster still answers pings, so nats.js stays on it while nothing
   * it is asked of JetStream can be done there (the streams' leaders and quorum are on the
   * other side): after STUCK_MS of only such failures the connection moves to the next server
   * (what is waiting is sent again on reconnect, see publisher.ts).
   */
  jetStreamFailed(startedAt: number): void {
    // sent to the server left behind: the next server is judged by its own answers, STUCK_MS of them
    if (startedAt < this.lastMove) return
    this.failingSince = Math.min(this.failingSince ?? startedAt, startedAt)
    const now = Date.now()
    if (now - this.failingSince < STUCK_MS || !this.connected || !this.usable) return
    // one server: nowhere to go (a cluster advertises the others in its INFO)
    if ((this.nc.info?.connect_urls?.length ?? 0) < 2) return
    this.lastMove = now
    this.failingSince = undefined
    this.pick.leave(this.nc.getServer())
    this.nc.reconnect().catch(() => undefined)
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener)
    return () => this.reconnectListeners.delete(listener)
  }

  get usable(): boolean {
    return !this.closing && !this.aborted && !this.nc.isClosed()
  }
}
