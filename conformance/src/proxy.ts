/**
 * A TCP proxy (node:net) between clients and a broker, for connection faults
 * that leave the broker running:
 *
 *   cut()    destroys every open connection (both sides): a network reset
 *   freeze() stops forwarding both ways and keeps the sockets open (also for
 *            connections accepted while frozen): a stalled link / dead peer;
 *            freeze({ newConnections: "pass" }) freezes only the open ones (a
 *            half-open link: a client that reconnects gets through)
 *   thaw()   forwards again (bytes held meanwhile are delivered)
 *
 * `accepted` counts client connections, so a test can see a reconnect (or a
 * reconnect storm) happen without sleeping.
 *
 * Brokers that tell clients where to connect next (Kafka's advertised
 * listeners) would send them past a proxy on a random port. Their launcher
 * reserves a front with `registerProxyFront`: a port the broker already
 * advertises on a second listener, and that listener's port. `start()` in
 * front of the broker's port then listens on the reserved port and forwards
 * to that listener, so every connection the client opens goes through it.
 */
import { createConnection, createServer } from "node:net"
import type { Server, Socket } from "node:net"

interface Pair {
  readonly client: Socket
  readonly upstream: Socket
}

interface Front {
  readonly listenPort: number
  readonly targetPort: number
  inUse: boolean
}

/** Broker port -> the front its launcher reserved (one proxy at a time uses it). */
const fronts = new Map<number, Front>()

/** Reserves `listenPort` for the proxy in front of `brokerPort`, forwarding to `targetPort`; returns the release. */
export const registerProxyFront = (brokerPort: number, front: { readonly listenPort: number; readonly targetPort: number }): (() => void) => {
  fronts.set(brokerPort, { ...front, inUse: false })
  return () => { fronts.delete(brokerPort) }
}

export class TcpProxy {
  readonly targetPort: number
  readonly targetHost: string
  private server: Server | undefined
  private readonly pairs = new Set<Pair>()
  private frozen = false
  /** Connections frozen while the proxy forwards new ones. */
  private readonly frozenPairs = new Set<Pair>()
  private readonly listeners = new Set<() => void>()
  /** Client connections accepted so far. */
  accepted = 0
  port = 0

  constructor(targetPort: number, targetHost = "127.0.0.1") {
    this.targetPort = targetPort
    this.targetHost = targetHost
  }

  private front: Front | undefined

  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
    const front = fronts.get(targetPort)
    // a second proxy in front of the same broker gets a random port (and may be bypassed)
    if (front && !front.inUse && targetHost === "127.0.0.1") {
      const p = new TcpProxy(front.targetPort, targetHost)
      front.inUse = true
      p.front = front
      try {
        await p.listen(front.listenPort)
      } catch (e) {
        front.inUse = false
        throw e
      }
      return p
    }
    const p = new TcpProxy(targetPort, targetHost)
    await p.listen(0)
    return p
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.accept(client))
    this.server = server
    return new Promise((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        this.port = (server.address() as { port: number }).port
        resolve()
      })
    })
  }

  /** Open connections now. */
  get open(): number {
    return this.pairs.size
  }

  get isFrozen(): boolean {
    return this.frozen
  }

  private accept(client: Socket): void {
    this.accepted++
    const upstream = createConnection({ port: this.targetPort, host: this.targetHost })
    const pair: Pair = { client, upstream }
    this.pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    const end = () => {
      this.pairs.delete(pair)
      this.frozenPairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on("error", end)
    upstream.on("error", end)
    client.on("close", end)
    upstream.on("close", end)
    // Manual forwarding so freeze can hold data: pause() stops reading; the
    // kernel buffers fill and the peers see a silent link.
    client.on("data", (d: Buffer) => {
      if (!upstream.write(d)) {
        client.pause()
        upstream.once("drain", () => { if (!this.frozen && !this.frozenPairs.has(pair)) client.resume() })
      }
    })
    upstream.on("data", (d: Buffer) => {
      if (!client.write(d)) {
        upstream.pause()
        client.once("drain", () => { if (!this.frozen && !this.frozenPairs.has(pair)) upstream.resume() })
      }
    })
    if (this.frozen) {
      this.frozenPairs.add(pair)
      client.pause()
      upstream.pause()
    }
    for (const l of [...this.listeners]) l()
  }

  /** Destroys every open connection (clients see a reset / close). */
  cut(): number {
    const n = this.pairs.size
    for (const p of [...this.pairs]) {
      p.client.resetAndDestroy()
      p.upstream.destroy()
    }
    this.pairs.clear()
    this.frozenPairs.clear()
    return n
  }

  /** Stops forwarding both ways; sockets stay open. */
  freeze(options: { readonly newConnections?: "frozen" | "pass" } = {}): void {
    if ((options.newConnections ?? "frozen") === "frozen") this.frozen = true
    for (const p of this.pairs) {
      this.frozenPairs.add(p)
      p.client.pause()
      p.upstream.pause()
    }
  }

  thaw(): void {
    this.frozen = false
    for (const p of this.pairs) {
      this.frozenPairs.delete(p)
      p.client.resume()
      p.upstream.resume()
    }
  }

  /** Resolves once `accepted` reaches `n`, or rejects after `timeoutMs`. */
  waitForAccepted(n: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.accepted >= n) return resolve()
      const check = () => {
        if (this.accepted < n) return
        clearTimeout(timer)
        this.listeners.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.listeners.delete(check)
        reject(new Error(`proxy: ${this.accepted} connections accepted after ${timeoutMs} ms, expected ${n}`))
      }, timeoutMs)
      this.listeners.add(check)
    })
  }

  async close(): Promise<void> {
    this.cut()
    const s = this.server
    this.server = undefined
    if (s) await new Promise<void>((r) => s.close(() => r()))
    if (this.front) this.front.inUse = false
    this.front = undefined
  }
}
