/**
 * The memory Transport: one client of an in-process MemoryBroker. Each
 * `connect("memory://name")` is a separate client (like a separate process
 * talking to one broker), so competing consumers, fan-out and crashes behave
 * as they do on a real broker.
 */
import { BusClosed, DEFAULT_MAX_PAYLOAD_BYTES, InvalidOptions, NoResponders, simulateCrash, type AdapterFactory, type Consumption, type ConsumeSpec, type Delivery, type Envelope, type GroupSpec, type Health, type IncomingRequest, type PublishOutcome, type ServeSpec, type Transport, type TransportOptions } from "@omnibus/core/adapter"
import { brokerNamed, type BrokerConsumer, type MemoryBroker, type GroupQueue, type StoredMessage } from "./broker.ts"

export class MemoryTransport implements Transport {
  readonly name = "memory"
  readonly limits: { readonly maxPayloadBytes: number }
  private readonly broker: MemoryBroker
  private readonly leaseMs: number
  private readonly consumers = new Set<{ readonly queue: GroupQueue; readonly consumer: BrokerConsumer; readonly group: string; readonly ephemeral: boolean }>()
  private readonly servers = new Set<{ readonly method: string; readonly server: import("./broker.ts").RpcServer }>()
  private readonly keepAlive: NodeJS.Timeout
  private closed = false

  constructor(broker: MemoryBroker, options: TransportOptions) {
    this.broker = broker
    this.leaseMs = options.leaseMs ?? 30_000
    this.limits = { maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES }
    // Keeps the leases of unsettled deliveries alive, as real adapters must.
    this.keepAlive = setInterval(() => this.extendLeases(), Math.max(20, Math.floor(this.leaseMs / 3)))
    this.keepAlive.unref()
  }

  private readonly held = new Map<number, GroupQueue>()

  private extendLeases(): void {
    for (const [tag, q] of this.held) q.extend(tag)
  }

  async publish(batch: ReadonlyArray<Envelope>): Promise<ReadonlyArray<PublishOutcome>> {
    if (this.closed) throw new BusClosed({ operation: "publish" })
    return batch.map((e) => {
      this.broker.publish(e)
      return { ok: true as const }
    })
  }

  async declareGroup(spec: GroupSpec): Promise<void> {
    if (this.closed) throw new BusClosed({ operation: "declareGroup" })
    this.broker.declare(spec.group, spec.patterns, spec.ephemeral)
  }

  async consume(spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) throw new BusClosed({ operation: "consume" })
    const queue = this.broker.declare(spec.group, spec.patterns, spec.ephemeral)
    const held = this.held
    const consumer: BrokerConsumer = {
      prefetch: spec.prefetch,
      leaseMs: this.leaseMs,
      unsettled: 0,
      deliver: (message: StoredMessage, tag: number) => {
        held.set(tag, queue)
        onDelivery(this.delivery(queue, message, tag))
      },
    }
    queue.consumers.push(consumer)
    queue.schedule()
    const entry = { queue, consumer, group: spec.group, ephemeral: spec.ephemeral }
    this.consumers.add(entry)
    const detach = () => {
      const i = queue.consumers.indexOf(consumer)
      if (i >= 0) queue.consumers.splice(i, 1)
    }
    return {
      stop: async () => detach(),
      close: async () => {
        detach()
        this.consumers.delete(entry)
        // Anything still unsettled goes back (close() after a drain leaves nothing here).
        queue.requeueFrom(consumer)
        if (spec.ephemeral) this.broker.remove(spec.group)
      },
    }
  }

  private delivery(queue: GroupQueue, message: StoredMessage, tag: number): Delivery {
    let settled = false
    const once = (f: (m: StoredMessage) => void) => async () => {
      if (settled) return
      settled = true
      this.held.delete(tag)
      const m = queue.settle(tag)
      if (m) f(m)
    }
    return {
      envelope: message.envelope,
      attempt: message.failures + 1,
      redeliveries: message.deliveries - 1,
      firstFailureAt: message.firstFailureAt,
      beginSolo: async () => message.soloRuns++,
      ack: once(() => undefined),
      release: once((m) => queue.enqueue(m, true)),
      retry: ({ delayMs, firstFailureAt }) =>
        once((m) => {
          m.firstFailureAt = firstFailureAt
          m.failures++
          m.deliveries = 0
          m.soloRuns = 0
          queue.later(delayMs, () => queue.enqueue(m))
        })(),
      deadLetter: (failure) => once((m) => queue.deadLetter(m, failure))(),
    }
  }

  async serve(spec: ServeSpec, onRequest: (request: IncomingRequest) => void): Promise<Consumption> {
    if (this.closed) throw new BusClosed({ operation: "serve" })
    const server = {
      group: spec.group,
      handle: (request: Envelope, reply: (r: Envelope) => void) =>
        onRequest({ envelope: request, reply: async (r) => reply(r), done: async () => undefined }),
    }
    const entry = { method: spec.method, server }
    const list = this.broker.servers.get(spec.method) ?? []
    list.push(server)
    this.broker.servers.set(spec.method, list)
    this.servers.add(entry)
    const detach = () => {
      const l = this.broker.servers.get(spec.method) ?? []
      const i = l.indexOf(server)
      if (i >= 0) l.splice(i, 1)
      this.servers.delete(entry)
    }
    return { stop: async () => detach(), close: async () => detach() }
  }

  request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.closed) return Promise.reject(new BusClosed({ operation: "request" }))
    const server = this.broker.server(request.routingKey)
    if (!server) return Promise.reject(new NoResponders({ method: request.routingKey }))
    return new Promise<Envelope>((resolve, reject) => {
      // Core holds the deadline (rpc/client.ts) and aborts the signal when it passes.
      let done = false
      const finish = () => {
        done = true
        options.signal.removeEventListener("abort", onAbort)
      }
      const onAbort = () => {
        if (done) return
        finish()
        reject(options.signal.reason)
      }
      options.signal.addEventListener("abort", onAbort)
      // Copy the payload: the server must not share memory with the caller.
      queueMicrotask(() =>
        server.handle({ ...request, payload: request.payload.slice() }, (reply) => {
          if (done) return // late reply: dropped
          finish()
          resolve(reply)
        }),
      )
    })
  }

  readonly deadLetters = {
    list: async (group: string, options?: { readonly limit?: number }) => {
      const q = this.broker.groups.get(group)
      return q ? q.deadLetters.slice(0, options?.limit ?? Number.MAX_SAFE_INTEGER) : []
    },
    replay: async (group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }) => {
      const q = this.broker.groups.get(group)
      if (!q) return 0
      const ids = options?.ids ? new Set(options.ids) : undefined
      const limit = options?.limit ?? Number.MAX_SAFE_INTEGER
      let n = 0
      for (let i = 0; i < q.deadLetters.length && n < limit; ) {
        const d = q.deadLetters[i]!
        if (ids && !ids.has(d.envelope.id)) {
          i++
          continue
        }
        q.deadLetters.splice(i, 1)
        q.enqueue({ envelope: d.envelope, failures: 0, deliveries: 0, soloRuns: 0, firstFailureAt: undefined })
        n++
      }
      return n
    },
    purge: async (group: string) => {
      const q = this.broker.groups.get(group)
      if (!q) return 0
      return q.deadLetters.splice(0).length
    },
  }

  async health(): Promise<Health> {
    return this.closed ? { ready: false, detail: "closed" } : { ready: true }
  }

  async close(): Promise<void> {
    if (this.closed) return
    for (const c of [...this.consumers]) {
      const i = c.queue.consumers.indexOf(c.consumer)
      if (i >= 0) c.queue.consumers.splice(i, 1)
      c.queue.requeueFrom(c.consumer)
      if (c.ephemeral) this.broker.remove(c.group)
    }
    this.consumers.clear()
    for (const s of [...this.servers]) {
      const l = this.broker.servers.get(s.method) ?? []
      const i = l.indexOf(s.server)
      if (i >= 0) l.splice(i, 1)
    }
    this.servers.clear()
    this.closed = true
    clearInterval(this.keepAlive)
  }

  /** A crash: consumers vanish, their unacked messages return to their groups. */
  async [simulateCrash](): Promise<void> {
    this.held.clear()
    await this.close()
  }

  /** For the conformance residue check: does the broker still hold this group? */
  static residue(name: string, group: string): number {
    return brokerNamed(name).groups.has(group) ? 1 : 0
  }
}

/** memory://orders → "orders"; memory:// → "default". */
export const brokerNameOf = (url: string): string => url.replace(/^memory:(\/\/)?/i, "").replace(/\/.*$/, "") || "default"

export const memoryAdapter: AdapterFactory = {
  name: "memory",
  schemes: ["memory"],
  create: async (url, options) => {
    const name = brokerNameOf(url)
    // Like the broker adapters: an option that cannot be honoured is a typed error naming it, not a silent default.
    for (const option of ["maxPayloadBytes", "leaseMs", "connectTimeoutMs"] as const) {
      const v = options[option]
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0)) {
        throw new InvalidOptions({ option, reason: `must be a positive number, got ${JSON.stringify(v)}` })
      }
    }
    return new MemoryTransport(brokerNamed(name), options)
  },
}
