/**
 * An in-process broker with the semantics Omnibus promises, kept deliberately
 * close to what real brokers do so it can serve as the reference model:
 * a topic exchange routing to one FIFO queue per group, competing consumers
 * with prefetch, unacked deliveries that come back after a crash or after
 * their lease runs out, delayed redelivery, a dead-letter list per group,
 * publish-side dedup by message id, and request/reply with no-responders.
 */
import { matchesAny, type DeadLetter, type Envelope, type FailureMetadata } from "@omnibus/core/adapter"

export interface StoredMessage {
  readonly envelope: Envelope
  /** Handler failures so far (the attempt number is this + 1). */
  failures: number
  /** Deliveries of the current attempt so far (the first is 1; more means redelivered). */
  deliveries: number
  /** Runs alone in a handler of the current attempt (Delivery.beginSolo); a crash leaves them counted. */
  soloRuns: number
  firstFailureAt: number | undefined
}

export interface BrokerConsumer {
  readonly prefetch: number
  /** Redelivery deadline for this consumer's unacked messages unless extended. */
  readonly leaseMs: number
  unsettled: number
  deliver(message: StoredMessage, tag: number): void
}

interface Unacked {
  readonly message: StoredMessage
  readonly consumer: BrokerConsumer
  leaseUntil: number
}

export class GroupQueue {
  readonly ready: Array<StoredMessage> = []
  readonly unacked = new Map<number, Unacked>()
  readonly consumers: Array<BrokerConsumer> = []
  readonly deadLetters: Array<DeadLetter> = []
  readonly timers = new Set<NodeJS.Timeout>()
  patterns: ReadonlyArray<string>
  readonly ephemeral: boolean
  private next = 0
  private pumping = false
  private readonly broker: MemoryBroker

  constructor(broker: MemoryBroker, patterns: ReadonlyArray<string>, ephemeral: boolean) {
    this.broker = broker
    this.patterns = patterns
    this.ephemeral = ephemeral
  }

  enqueue(message: StoredMessage, front = false): void {
    if (front) this.ready.unshift(message)
    else this.ready.push(message)
    this.schedule()
  }

  schedule(): void {
    if (this.pumping) return
    this.pumping = true
    queueMicrotask(() => {
      this.pumping = false
      this.pump()
    })
  }

  /** Hands ready messages to consumers with free prefetch slots, round-robin. */
  private pump(): void {
    while (this.ready.length > 0) {
      const n = this.consumers.length
      let target: BrokerConsumer | undefined
      for (let i = 0; i < n; i++) {
        const c = this.consumers[(this.next + i) % n]!
        if (c.unsettled < c.prefetch) {
          target = c
          this.next = (this.next + i + 1) % n
          break
        }
      }
      if (!target) return
      const message = this.ready.shift()!
      message.deliveries++
      const tag = this.broker.nextTag()
      this.unacked.set(tag, { message, consumer: target, leaseUntil: Date.now() + target.leaseMs })
      target.unsettled++
      target.deliver(message, tag)
    }
  }

  settle(tag: number): StoredMessage | undefined {
    const u = this.unacked.get(tag)
    if (!u) return undefined
    this.unacked.delete(tag)
    u.consumer.unsettled--
    this.schedule()
    return u.message
  }

  extend(tag: number): void {
    const u = this.unacked.get(tag)
    if (u) u.leaseUntil = Date.now() + u.consumer.leaseMs
  }

  /** Everything a consumer held goes back to the head of the queue (crash, or lease lost). */
  requeueFrom(consumer: BrokerConsumer): void {
    const back: Array<StoredMessage> = []
    for (const [tag, u] of this.unacked) {
      if (u.consumer !== consumer) continue
      this.unacked.delete(tag)
      back.push(u.message)
    }
    consumer.unsettled = 0
    this.ready.unshift(...back)
    this.schedule()
  }

  expireLeases(now: number): void {
    for (const [tag, u] of this.unacked) {
      if (u.leaseUntil > now) continue
      this.unacked.delete(tag)
      u.consumer.unsettled--
      this.ready.unshift(u.message)
    }
    this.schedule()
  }

  later(delayMs: number, f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      f()
    }, delayMs)
    this.timers.add(t)
  }

  deadLetter(message: StoredMessage, failure: FailureMetadata): void {
    this.deadLetters.push({ envelope: message.envelope, failure })
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}

export interface RpcServer {
  readonly group: string
  handle(request: Envelope, reply: (reply: Envelope) => void): void
}

const DEDUP_WINDOW_MS = 120_000

export class MemoryBroker {
  readonly groups = new Map<string, GroupQueue>()
  readonly servers = new Map<string, Array<RpcServer>>()
  private readonly seen = new Map<string, number>()
  private tag = 0
  private rr = 0
  private sweeper: NodeJS.Timeout | undefined

  nextTag(): number {
    return ++this.tag
  }

  /** Lease expiry runs only while someone holds unacked messages. */
  private ensureSweeper(): void {
    if (this.sweeper) return
    this.sweeper = setInterval(() => {
      const now = Date.now()
      let any = false
      for (const g of this.groups.values()) {
        g.expireLeases(now)
        any ||= g.unacked.size > 0 || g.consumers.length > 0
      }
      if (!any && this.sweeper) {
        clearInterval(this.sweeper)
        this.sweeper = undefined
      }
    }, 50)
    this.sweeper.unref()
  }

  declare(group: string, patterns: ReadonlyArray<string>, ephemeral: boolean): GroupQueue {
    let q = this.groups.get(group)
    if (!q) {
      q = new GroupQueue(this, patterns, ephemeral)
      this.groups.set(group, q)
    } else {
      // A durable group's bindings are the union of what its consumers asked for, like queue bindings.
      q.patterns = [...new Set([...q.patterns, ...patterns])]
    }
    this.ensureSweeper()
    return q
  }

  remove(group: string): void {
    this.groups.get(group)?.dispose()
    this.groups.delete(group)
  }

  /** Routes one message; false when it is a duplicate id inside the dedup window. */
  publish(envelope: Envelope): boolean {
    const now = Date.now()
    const seenAt = this.seen.get(envelope.id)
    if (seenAt !== undefined && now - seenAt < DEDUP_WINDOW_MS) return false
    this.seen.set(envelope.id, now)
    if (this.seen.size > 100_000) {
      for (const [id, t] of this.seen) if (now - t >= DEDUP_WINDOW_MS) this.seen.delete(id)
    }
    for (const q of this.groups.values()) {
      if (matchesAny(q.patterns, envelope.routingKey)) q.enqueue({ envelope, failures: 0, deliveries: 0, soloRuns: 0, firstFailureAt: undefined })
    }
    return true
  }

  /** Picks one live server for a method, round-robin. */
  server(method: string): RpcServer | undefined {
    const list = this.servers.get(method)
    if (!list || list.length === 0) return undefined
    return list[this.rr++ % list.length]
  }
}

const brokers = new Map<string, MemoryBroker>()

/** The broker called `name` if this process has one (looking does not create it). */
export const existingBroker = (name: string): MemoryBroker | undefined => brokers.get(name)

/** One broker per name in this process: memory://orders and memory://orders share it. */
export const brokerNamed = (name: string): MemoryBroker => {
  let b = brokers.get(name)
  if (!b) {
    b = new MemoryBroker()
    brokers.set(name, b)
  }
  return b
}
