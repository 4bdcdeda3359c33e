/**
 * One AMQP connection with reconnect: the first connect retries with backoff
 * until connectTimeoutMs (ConnectionFailed), refused credentials fail at once
 * (AuthenticationFailed). After a drop it reconnects with capped exponential
 * backoff forever (until close) and runs the registered hooks in order:
 * topology, consumers, RPC, publisher (which republishes unconfirmed messages).
 * A cluster's hosts (settings.amqpUrls) are taken in turn: each failed attempt and
 * each lost connection moves on to the next node, so a dead node is not retried first.
 */
import * as amqp from "amqplib"
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib"
import type { ConnectionOptions } from "node:tls"
import { Duplex } from "node:stream"
import { AuthenticationFailed, BrokerError, BusClosed, ConnectionFailed, redactUrl } from "@omnibus/core/adapter"
import type { RabbitSettings } from "./options.ts"

export interface ConnectionHook {
  /** Lower runs first. */
  readonly order: number
  /** Called on every (re)connect. Throwing makes the manager drop and retry the connection. */
  connected(model: ChannelModel): Promise<void>
  /** Called when the connection is lost (channels are already dead). */
  disconnected(): void
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed"

/**
 * What the broker said of itself in Connection.Start, read on every (re)connect:
 * declarations that differ between RabbitMQ versions follow it (topology.ts),
 * never a user option. Another product or an unparsable version counts as 3.x.
 */
export interface BrokerFeatures {
  /** server-properties "version", "" when absent. */
  readonly version: string
  /**
   * RabbitMQ 4.0+: a quorum queue without x-delivery-limit gets a limit of 20 and drops
   * (or dead-letters through its DLX) a message returned that often; -1 means unlimited.
   * 3.x has no default limit and does not take -1.
   */
  readonly quorumDefaultDeliveryLimit: boolean
  /**
   * RabbitMQ 4.0+: transient (non-durable) non-exclusive queues are a deprecated feature,
   * refused when the node's config says so and by default from 4.3; declaring one then
   * closes the whole connection (541), not just the channel.
   */
  readonly transientQueuesDeprecated: boolean
}

export const brokerFeatures = (model: ChannelModel): BrokerFeatures => {
  const props = model.connection.serverProperties as { product?: unknown; version?: unknown } | undefined
  const version = typeof props?.version === "string" ? props.version : ""
  const major = /^RabbitMQ$/i.test(String(props?.product ?? "")) ? Number.parseInt(version, 10) : Number.NaN
  const v4 = Number.isInteger(major) && major >= 4
  return { version, quorumDefaultDeliveryLimit: v4, transientQueuesDeprecated: v4 }
}

/** Until a connection says otherwise: RabbitMQ 3.x behaviour. */
export const LEGACY_FEATURES: BrokerFeatures = { version: "", quorumDefaultDeliveryLimit: false, transientQueuesDeprecated: false }

/** Removes anything URL-like from a client error message before it is shown. */
export const safeReason = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e)
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (m) => redactUrl(m))
}

/** Refused login (403 during the handshake) or refused vhost (530 on connection.open). */
const isAuthFailure = (e: unknown): boolean => /Handshake terminated by server: 403|ACCESS[-_]REFUSED - Login|NOT[-_]ALLOWED - access to vhost/.test(safeReason(e))

/** Channel-level refusals: retrying the connection cannot help. */
const isRefusal = (e: unknown): boolean => {
  const code = replyCode(e)
  return code === 403 || code === 404 || code === 405 || code === 406
}

/** AMQP reply code of a channel/connection error raised by amqplib, if any. */
export const replyCode = (e: unknown): number | undefined => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "number" ? code : undefined
}

/** Maps a broker refusal (channel closed with 406, 404, 405...) to a typed error. */
export const brokerError = (operation: string, e: unknown): BrokerError | BusClosed => {
  if (e instanceof BrokerError || e instanceof BusClosed) return e
  return new BrokerError({ operation, reason: safeReason(e), cause: e })
}

/**
 * Closes a channel or a connection and resolves once it is closed, either way. amqplib's
 * close() settles only on the broker's CloseOk: when the connection dies before that, its
 * promise never settles, and whoever awaited it waited forever (a consumer's solo run hung
 * on its marker channel after a connection cut, and with it every later delivery).
 */
export const closeQuietly = (target: { close(): Promise<void>; once(event: "close", listener: () => void): unknown }): Promise<void> =>
  new Promise<void>((resolve) => {
    target.once("close", resolve)
    target.close().then(resolve, resolve)
  })

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => { clearTimeout(t); resolve() }, { once: true })
  })

interface MuxInternals {
  _readIncoming?: () => void
}

/**
 * amqplib's multiplexer moves every queued frame of every channel to the socket in one
 * pass, but with noDelay each frame is its own write(2): a 1,000-message batch cost 1,000
 * syscalls (a fifth of the publish path's CPU in a profile). Corking the socket for that
 * pass sends it as one writev. Uses amqplib internals (connection.muxer, connection.stream);
 * when they are not there (another amqplib version), nothing changes.
 */
const coalesceWrites = (model: ChannelModel): void => {
  const connection = (model as unknown as { connection?: { muxer?: MuxInternals; stream?: unknown } }).connection
  const mux = connection?.muxer
  const socket = connection?.stream
  const pass = mux?._readIncoming
  if (!mux || typeof pass !== "function" || !(socket instanceof Duplex)) return
  mux._readIncoming = function (this: MuxInternals) {
    socket.cork()
    try {
      pass.call(this)
    } finally {
      socket.uncork()
    }
  }
}

export class ConnectionManager {
  readonly settings: RabbitSettings
  private readonly tls: ConnectionOptions | undefined
  private model: ChannelModel | undefined
  private hooks: Array<ConnectionHook> = []
  private waiters: Array<{ resolve: (m: ChannelModel) => void; reject: (e: unknown) => void }> = []
  private readonly stopping = new AbortController()
  /** A reconnect loop is running: a drop during its hooks must not start a second one. */
  private reconnecting = false
  /** Index in settings.amqpUrls of the host the next attempt goes to. */
  private nextHost = 0
  state: ConnectionState = "connecting"
  lastError: string | undefined

  constructor(settings: RabbitSettings, tls: ConnectionOptions | undefined) {
    this.settings = settings
    this.tls = tls
  }

  addHook(hook: ConnectionHook): void {
    this.hooks.push(hook)
    this.hooks.sort((a, b) => a.order - b.order)
  }
  removeHook(hook: ConnectionHook): void {
    this.hooks = this.hooks.filter((h) => h !== hook)
  }

  private skipHost(): void {
    this.nextHost = (this.nextHost + 1) % this.settings.amqpUrls.length
  }

  private async open(timeoutMs: number): Promise<ChannelModel> {
    const url = this.settings.amqpUrls[this.nextHost] ?? this.settings.amqpUrl
    let model: ChannelModel
    try {
      model = await amqp.connect(url, {
        ...this.tls,
        timeout: Math.max(1, Math.round(timeoutMs)),
        // Without it every RPC round trip waits ~40 ms on Nagle's algorithm (measured in bench/).
        noDelay: true,
        clientProperties: { connection_name: this.settings.connectionName },
      })
    } catch (e) {
      this.skipHost()
      throw e
    }
    model.on("error", (e: Error) => { this.lastError = safeReason(e) })
    model.on("close", () => this.onClose(model))
    coalesceWrites(model)
    return model
  }

  /** First connection: retries until connectTimeoutMs, then ConnectionFailed. */
  async start(): Promise<void> {
    const deadline = Date.now() + this.settings.connectTimeoutMs
    let delay = 100
    for (;;) {
      try {
        const model = await this.open(Math.max(100, Math.min(10_000, deadline - Date.now())))
        this.model = model
        await this.runHooks(model)
        if (this.model !== model) throw new Error("connection lost while declaring topology")
        this.state = "open"
        this.flushWaiters()
        return
      } catch (e) {
        if (isAuthFailure(e)) {
          this.state = "closed"
          throw new AuthenticationFailed({ url: this.settings.safeUrl, reason: safeReason(e) })
        }
        this.model = undefined
        if (e instanceof BrokerError || isRefusal(e)) {
          this.state = "closed"
          throw brokerError("connect", e)
        }
        this.lastError = safeReason(e)
        // Keep trying until the deadline itself (the last wait is cut to it), not
        // until the next backoff step would cross it: a broker coming up late in
        // the window must still be reached, and the typed error comes at the deadline.
        const left = deadline - Date.now()
        if (left <= 0 || this.stopping.signal.aborted) {
          this.state = "closed"
          throw new ConnectionFailed({ url: this.settings.safeUrl, reason: `${this.lastError} (gave up after ${this.settings.connectTimeoutMs} ms)` })
        }
        await sleep(Math.min(delay, left), this.stopping.signal)
        delay = Math.min(delay * 2, 2_000)
      }
    }
  }

  /**
   * On the first connect every failure counts; on a reconnect a broker refusal
   * of one hook (say, a queue redeclared elsewhere with other arguments) is
   * recorded in health() and must not keep the whole connection down.
   */
  private async runHooks(model: ChannelModel, tolerateRefusals = false): Promise<void> {
    try {
      for (const hook of [...this.hooks]) {
        try {
          await hook.connected(model)
        } catch (e) {
          if (!tolerateRefusals || !isRefusal(e)) throw e
          this.lastError = safeReason(e)
        }
      }
    } catch (e) {
      // A half-initialised connection is useless: drop it; the caller retries.
      await closeQuietly(model)
      throw e
    }
  }

  private onClose(model: ChannelModel): void {
    if (this.model !== model) return
    this.model = undefined
    this.skipHost()
    for (const hook of [...this.hooks]) hook.disconnected()
    if (this.state === "closed" || this.state === "connecting") return
    this.state = "reconnecting"
    // A drop while the running loop re-runs the hooks on a new connection is
    // handled by that loop (it sees this.model change and tries again). A second
    // loop would run the hooks concurrently on two connections, and a hook
    // (consumer) could end up bound to a connection the manager no longer tracks.
    if (this.reconnecting) return
    void this.reconnect()
  }

  private async reconnect(): Promise<void> {
    this.reconnecting = true
    try {
      await this.reconnectLoop()
    } finally {
      this.reconnecting = false
    }
  }

  private async reconnectLoop(): Promise<void> {
    let attempt = 0
    while (this.state === "reconnecting") {
      const base = Math.min(this.settings.reconnectMaxDelayMs, 100 * 2 ** attempt++)
      await sleep(base * (0.8 + Math.random() * 0.4), this.stopping.signal)
      if (this.state !== "reconnecting") return
      let model: ChannelModel | undefined
      try {
        model = await this.open(10_000)
        if (this.state !== "reconnecting") { await closeQuietly(model); return }
        this.model = model
        await this.runHooks(model, true)
        if (this.model !== model) { await closeQuietly(model); continue } // dropped again while re-declaring
        this.state = "open"
        this.flushWaiters()
        return
      } catch (e) {
        if (model !== undefined && this.model === model) this.model = undefined
        // Refused credentials: keep trying at the slowest pace, never a storm.
        if (isAuthFailure(e)) attempt = 64
        this.lastError = safeReason(e)
      }
    }
  }

  private flushWaiters(): void {
    const model = this.model
    if (!model) return
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w.resolve(model)
  }

  /** The open connection, waiting through a reconnect; BusClosed once closed. */
  ready(operation: string): Promise<ChannelModel> {
    if (this.state === "closed") return Promise.reject(new BusClosed({ operation }))
    if (this.state === "open" && this.model) return Promise.resolve(this.model)
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  current(): ChannelModel | undefined {
    return this.state === "open" ? this.model : undefined
  }

  /** `model` is the tracked connection, open or still running its hooks after a reconnect. */
  isLive(model: ChannelModel): boolean {
    return this.model === model && this.state !== "closed"
  }

  /**
   * After only a channel died (say, its queue was deleted), `reopen` runs on the same
   * connection a little later, if that connection is still the live one then. Checked
   * when the timer fires, not before: a connection drop closes every channel first, and
   * a reopen queued then would run on the dead connection while the reconnect's hooks
   * bind the hook to the new one (a consumer lost that race and stopped consuming).
   */
  reopenLater(model: ChannelModel, wanted: () => boolean, reopen: () => Promise<void>): void {
    setTimeout(() => {
      if (wanted() && this.isLive(model)) void reopen().catch(() => {})
    }, 200)
  }

  /** Runs `fn` on a fresh short-lived channel (a broker refusal kills only that channel). */
  async withChannel<A>(operation: string, fn: (ch: Channel) => Promise<A>): Promise<A> {
    const model = await this.ready(operation)
    let ch: Channel
    try {
      ch = await model.createChannel()
    } catch (e) {
      throw this.state === "closed" ? new BusClosed({ operation }) : brokerError(operation, e)
    }
    ch.on("error", () => {}) // surfaced through the rejected operation
    try {
      return await fn(ch)
    } catch (e) {
      throw brokerError(operation, e)
    } finally {
      await closeQuietly(ch)
    }
  }

  async createConfirmChannel(model: ChannelModel): Promise<ConfirmChannel> {
    const ch = await model.createConfirmChannel()
    ch.on("error", () => {})
    return ch
  }

  async close(): Promise<void> {
    if (this.state === "closed") return
    this.state = "closed"
    this.stopping.abort()
    for (const w of this.waiters.splice(0)) w.reject(new BusClosed({ operation: "connect" }))
    const model = this.model
    this.model = undefined
    if (model) await closeQuietly(model)
  }

  /** Crash simulation: destroy the socket, no AMQP close handshake. */
  abort(): void {
    this.state = "closed"
    this.stopping.abort()
    for (const w of this.waiters.splice(0)) w.reject(new BusClosed({ operation: "connect" }))
    const model = this.model
    this.model = undefined
    const stream = (model?.connection as unknown as { stream?: { destroy(): void } } | undefined)?.stream
    stream?.destroy()
  }
}
