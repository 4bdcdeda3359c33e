/**
 * A group's consumption: pull requests against the group's durable consumer,
 * with credits so that at most `prefetch` deliveries are unsettled here at
 * once (unsettled + requested-but-not-received ≤ prefetch). Each pull request
 * has its own reply subscription, so its credits come back when the server
 * ends it (408/404/409) or when it is presumed lost (server restart); dropping
 * the subscription also cancels it (the server skips requests without interest).
 *
 * - attempt: a nak cannot change headers, so each retry first writes a failure
 *   record (failures so far, first failure time, the delivered count it failed
 *   at) to the failure stream; attempt = failures + 1, and redeliveries = the
 *   server's delivered count - the count at the last failure - 1 (crashes,
 *   lost leases and releases in between). The record is read only when
 *   delivered > 1, so a first delivery costs nothing.
 * - lease: `+WPI` (in progress) every leaseMs/3 while unsettled (one timer per
 *   consumption for all its deliveries).
 * - ack/retry/release are confirmed by the server (one shared reply
 *   subscription, Link.confirm).
 * - deliveries are decoded and handed over as they arrive; only one that needs
 *   a round trip first (a blob payload, a failure record) queues the ones
 *   behind it, so the group's order holds.
 * - retry: the failure record, then `-NAK {"delay"}`.
 * - release: plain `-NAK` (redelivered at once; NATS counts it as a delivery).
 * - patterns the server cannot filter: a broader filter, and messages the
 *   patterns do not match are acked here and never delivered.
 * - replays (dead letters sent back) come from a second consumer on the replay
 *   stream; it is polled with no_wait when woken by replay() (core NATS
 *   notification), at start, and every replayPollMs, so it never holds credits.
 */
import { createInbox, nanos, nuid } from "@nats-io/nats-core"
import type { Msg, Subscription } from "@nats-io/nats-core"
import { BrokerError, BusClosed, Wire, failureToHeaders, matchesAny } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, Delivery, Envelope, FailureMetadata } from "@omnibus/core/adapter"
import { reasonOf } from "./connection.ts"
import type { Ctx } from "./context.ts"
import { replayNotifySubject } from "./context.ts"
import { encodeGroup, isNotFound, planFilter } from "./topology.ts"
import { headerRecord, statusOf } from "./wire.ts"

interface Source {
  readonly tag: "m" | "r"
  readonly stream: string
  readonly consumer: string
  /** Re-creates the consumer (and streams) after it went missing. */
  readonly ensure: () => Promise<unknown>
}

interface PullRequest {
  readonly id: number
  readonly source: Source
  readonly batch: number
  received: number
  readonly timer: NodeJS.Timeout
  /** Its own reply subscription: JetStream messages carry their stream subject, so the sid tells the request. */
  readonly sub: Subscription
  cancelling: boolean
}

export interface AckInfo {
  readonly stream: string
  readonly consumer: string
  readonly delivered: number
  readonly streamSeq: number
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (v1) or the 12-token v2 form. */
export const parseAckSubject = (reply: string): AckInfo | undefined => {
  const t = reply.split(".")
  if (t[0] !== "$JS" || t[1] !== "ACK") return undefined
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1
  if (base < 0) return undefined
  const delivered = Number(t[base + 2])
  const streamSeq = Number(t[base + 3])
  if (!Number.isFinite(delivered) || !Number.isFinite(streamSeq)) return undefined
  return { stream: t[base]!, consumer: t[base + 1]!, delivered, streamSeq }
}

const REPLAY_POLL_MS = 10_000
const LOST_GRACE_MS = 2_000

export class GroupConsumption implements Consumption {
  private readonly ctx: Ctx
  private readonly spec: ConsumeSpec
  private readonly onDelivery: (d: Delivery) => void
  private readonly enc: string
  private readonly exact: boolean
  private readonly main: Source
  private readonly replay: Source | undefined
  private readonly requests = new Map<number, PullRequest>()
  readonly active = new Set<NatsDelivery>()
  private notifySub: Subscription | undefined
  private seq = 0
  unsettled = 0
  private stopped = false
  private closed = false
  private replayWanted = true
  private replayTimer: NodeJS.Timeout | undefined
  private backoffTimer: NodeJS.Timeout | undefined
  private recovering = new Set<Source>()
  private chain: Promise<void> = Promise.resolve()
  /** Deliveries waiting in `chain` behind one that needed a round trip; 0 = hand over at once. */
  private queued = 0
  private leaseTimer: NodeJS.Timeout | undefined
  private offReconnect: (() => void) | undefined
  private readonly onClosed: (c: GroupConsumption) => void

  constructor(ctx: Ctx, spec: ConsumeSpec, onDelivery: (d: Delivery) => void, onClosed: (c: GroupConsumption) => void) {
    this.ctx = ctx
    this.spec = spec
    this.onDelivery = onDelivery
    this.onClosed = onClosed
    this.enc = encodeGroup(spec.group)
    this.exact = planFilter(ctx.settings.stream, spec.patterns).exact
    const t = ctx.topology
    const s = ctx.settings
    if (spec.ephemeral) {
      const cfg = t.ephemeralConsumerConfig(spec.group, spec.patterns, nuid.next())
      this.main = { tag: "m", stream: s.stream, consumer: cfg.name, ensure: () => t.ensureConsumer(s.stream, cfg) }
      this.replay = undefined
    } else {
      const cfg = t.groupConsumerConfig(spec.group, spec.patterns, spec.prefetch)
      this.main = { tag: "m", stream: s.stream, consumer: this.enc, ensure: () => t.ensureConsumer(s.stream, cfg) }
      const rcfg = t.replayConsumerConfig(spec.group)
      this.replay = { tag: "r", stream: s.replayStream, consumer: this.enc, ensure: () => t.ensureConsumer(s.replayStream, rcfg) }
    }
  }

  async start(): Promise<void> {
    const t = this.ctx.topology
    await t.patiently(() => t.ensureStreams())
    await t.patiently(this.main.ensure)
    if (this.replay) await t.patiently(this.replay.ensure)
    if (this.replay) {
      this.notifySub = this.ctx.link.nc.subscribe(replayNotifySubject(this.ctx.settings, this.enc), {
        callback: () => {
          this.replayWanted = true
          this.pump()
        },
      })
      this.replayTimer = setInterval(() => {
        this.replayWanted = true
        this.pump()
      }, REPLAY_POLL_MS)
    }
    // After a reconnect (maybe to a restarted server) pull requests are gone: issue new ones.
    this.offReconnect = this.ctx.link.onReconnect(() => {
      if (this.stopped) return
      this.dropRequests()
      this.replayWanted = true
      this.pump()
    })
    const every = Math.max(50, Math.floor(this.ctx.settings.leaseMs / 3))
    this.leaseTimer = setInterval(() => this.extendLeases(every), every)
    this.pump()
  }

  /** `+WPI` for every delivery held longer than one period (a fresh one still has its whole ack wait). */
  private extendLeases(every: number): void {
    if (!this.ctx.link.usable) return
    const before = Date.now() - every
    for (const d of this.active) if (d.leased && d.since <= before) this.ctx.link.nc.publish(d.reply, "+WPI")
  }

  private dropRequests(): void {
    for (const id of [...this.requests.keys()]) this.finish(id)
  }

  private outstanding(): number {
    let n = 0
    for (const r of this.requests.values()) n += r.batch - r.received
    return n
  }

  /** Issues pull requests for the credits that are free. */
  pump(): void {
    if (this.stopped || !this.ctx.link.usable || this.backoffTimer) return
    const free = this.spec.prefetch - this.unsettled - this.outstanding()
    if (free <= 0 && !(this.replay && this.replayWanted)) return
    const pending = [...this.requests.values()]
    if (this.replay && this.replayWanted && !pending.some((r) => r.source === this.replay)) {
      if (free <= 0) {
        // Long polls hold every credit: cancel them so the replay poll gets its turn now.
        for (const r of pending) if (r.source === this.main) this.cancel(r)
        return
      }
      this.replayWanted = false
      this.issue(this.replay, free, true)
      return
    }
    const mains = pending.filter((r) => r.source === this.main).length
    if (mains === 0 || free >= Math.ceil(this.spec.prefetch / 2)) this.issue(this.main, free, false)
  }

  private issue(source: Source, batch: number, noWait: boolean): void {
    const id = ++this.seq
    const expires = this.ctx.settings.pullExpiresMs
    const body = noWait ? { batch, no_wait: true } : { batch, expires: nanos(expires) }
    try {
      const inbox = createInbox()
      const sub = this.ctx.link.nc.subscribe(inbox, { callback: (_err, msg) => this.arrive(id, msg) })
      const timer = setTimeout(() => this.lost(id), (noWait ? 0 : expires) + LOST_GRACE_MS)
      this.requests.set(id, { id, source, batch, received: 0, timer, sub, cancelling: false })
      this.ctx.link.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${source.stream}.${source.consumer}`, JSON.stringify(body), { reply: inbox })
    } catch {
      this.finish(id)
      this.backoff(1_000)
    }
  }

  private finish(id: number): PullRequest | undefined {
    const r = this.requests.get(id)
    if (!r) return undefined
    clearTimeout(r.timer)
    try {
      r.sub.unsubscribe()
    } catch {
      // connection closed
    }
    this.requests.delete(id)
    return r
  }

  /**
   * Ends a pull request early: drain sends UNSUB (the server skips requests
   * without interest) and still hands us what was already on the way.
   */
  private cancel(r: PullRequest): Promise<void> {
    if (r.cancelling) return Promise.resolve()
    r.cancelling = true
    return r.sub.drain().then(
      () => {
        this.finish(r.id)
        this.pump()
      },
      () => {
        this.finish(r.id)
      },
    )
  }

  private backoff(ms: number): void {
    if (this.backoffTimer || this.stopped) return
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined
      this.pump()
    }, ms)
  }

  /** No answer at all: server restarted, or the consumer is gone (2.9 does not answer then). */
  private lost(id: number): void {
    const r = this.finish(id)
    if (!r || this.stopped) return
    void this.recover(r.source)
  }

  private async recover(source: Source): Promise<void> {
    if (this.recovering.has(source)) return
    this.recovering.add(source)
    try {
      try {
        await this.ctx.jsm.consumers.info(source.stream, source.consumer)
      } catch (e) {
        if (!isNotFound(e)) throw e
        await this.ctx.topology.ensureStreams(true)
        await source.ensure()
      }
      this.pump()
    } catch {
      this.backoff(1_000)
    } finally {
      this.recovering.delete(source)
    }
  }

  private arrive(id: number, msg: Msg): void {
    const req = this.requests.get(id)
    if (!msg.reply) {
      // Status: 100 heartbeat; 404/408 the request ended; 409 ended by the server (deleted consumer, limits).
      const code = statusOf(msg)
      if (code === 0 || code === 100) return
      const r = this.finish(id)
      if (code === 409 && /deleted/i.test(msg.headers?.description ?? "") && r) void this.recover(r.source)
      else if (code === 404 || code === 408) this.pump()
      else this.backoff(500)
      return
    }
    if (this.stopped) {
      // Was on the way when we stopped: give it straight back to the group's other consumers.
      this.ctx.link.nc.publish(msg.reply, "-NAK")
      return
    }
    if (req) {
      req.received++
      if (req.received >= req.batch) {
        this.finish(id)
        // A full replay batch: there may be more waiting.
        if (req.source === this.replay) this.replayWanted = true
      }
    }
    const ack = parseAckSubject(msg.reply)
    const source = req?.source ?? (ack?.stream === this.replay?.stream ? this.replay : this.main) ?? this.main
    const routingKey = source === this.main ? msg.subject.slice(this.ctx.settings.stream.length + 1) : ""
    if (source === this.main && !this.exact && !matchesAny(this.spec.patterns, routingKey)) {
      // The broader filter read a message the patterns do not match: not for this group.
      this.ctx.link.nc.publish(msg.reply, "+ACK")
      this.pump()
      return
    }
    this.unsettled++
    if (this.queued === 0) {
      const waiting = this.dispatch(msg, source, ack, routingKey)
      if (waiting === undefined) return
      this.queue(() => waiting)
    } else {
      this.queue(() => this.dispatch(msg, source, ack, routingKey))
    }
  }

  private queue(next: () => Promise<void> | undefined): void {
    this.queued++
    const done = () => {
      this.queued--
    }
    this.chain = this.chain.then(next).then(done, done)
  }

  /** Hands the delivery over now, or returns the promise of doing so when it needs a round trip first. */
  private dispatch(msg: Msg, source: Source, ack: AckInfo | undefined, routingKey: string): Promise<void> | undefined {
    const delivered = ack?.delivered ?? 1
    const streamSeq = ack?.streamSeq ?? 0
    const fallback = { id: `${source.stream}-${streamSeq}`, routingKey: routingKey || msg.subject }
    let envelope: Envelope | undefined
    let record: Record<string, string>
    try {
      record = headerRecord(msg)
      envelope = this.ctx.wire.decodeInline(record, msg.data, fallback)
    } catch {
      return this.giveBack(msg.reply!)
    }
    if (envelope !== undefined && delivered <= 1) return this.handOver(msg.reply!, envelope, delivered, NO_FAILURE, source, streamSeq)
    return this.dispatchLater(msg, record, source, delivered, streamSeq, fallback)
  }

  private async dispatchLater(msg: Msg, record: Record<string, string>, source: Source, delivered: number, streamSeq: number, fallback: { id: string; routingKey: string }): Promise<void> {
    let envelope: Envelope
    let failure: FailureRecord = NO_FAILURE
    try {
      envelope = await this.ctx.wire.decode(record, msg.data, fallback)
      if (delivered > 1) failure = await this.readFailure(source, streamSeq)
    } catch {
      return this.giveBack(msg.reply!)
    }
    this.handOver(msg.reply!, envelope, delivered, failure, source, streamSeq)
  }

  /** Transient (blob or failure record unreadable): give it back a little later. */
  private giveBack(reply: string): undefined {
    this.settleLocally()
    if (this.ctx.link.usable) this.ctx.link.nc.publish(reply, `-NAK {"delay": ${nanos(1_000)}}`)
    return undefined
  }

  private handOver(reply: string, envelope: Envelope, delivered: number, failure: FailureRecord, source: Source, streamSeq: number): undefined {
    if (this.stopped) {
      this.settleLocally()
      if (this.ctx.link.usable) this.ctx.link.nc.publish(reply, "-NAK")
      return
    }
    const d = new NatsDelivery(this, this.ctx, reply, envelope, delivered, failure, this.failureSubject(source, streamSeq))
    this.active.add(d)
    try {
      this.onDelivery(d)
    } catch {
      // the callback's own problem; the delivery stays unsettled for core to settle
    }
    return undefined
  }

  settleLocally(d?: NatsDelivery): void {
    if (d) this.active.delete(d)
    this.unsettled--
    this.pump()
  }

  failureSubject(source: Source, streamSeq: number): string {
    return `${this.ctx.settings.failureStream}.${this.enc}.${source.tag}${streamSeq}`
  }

  private async readFailure(source: Source, seq: number): Promise<FailureRecord> {
    const m = await this.ctx.jsm.streams.getMessage(this.ctx.settings.failureStream, { last_by_subj: this.failureSubject(source, seq) })
    return m ? parseFailureRecord(new TextDecoder().decode(m.data)) : NO_FAILURE
  }

  get group(): string {
    return this.spec.group
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.offReconnect?.()
    if (this.replayTimer) clearInterval(this.replayTimer)
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    // Without interest on their inboxes the server drops our pending pull requests;
    // draining still receives (and gives back) what was already on the way.
    await Promise.all([...this.requests.values()].map((r) => this.cancel(r)))
    this.dropRequests()
    try {
      this.notifySub?.unsubscribe()
    } catch {
      // connection already closed
    }
    await this.chain
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.stop()
    this.closed = true
    clearInterval(this.leaseTimer)
    for (const d of this.active) d.dropLease()
    this.onClosed(this)
    if (this.spec.ephemeral && this.ctx.link.usable) await this.ctx.topology.deleteConsumer(this.main.stream, this.main.consumer)
  }

  /** Transport closing or aborting: stop timers without touching the broker. */
  halt(): void {
    this.stopped = true
    this.closed = true
    this.offReconnect?.()
    if (this.replayTimer) clearInterval(this.replayTimer)
    if (this.backoffTimer) clearTimeout(this.backoffTimer)
    this.dropRequests()
    clearInterval(this.leaseTimer)
    for (const d of this.active) d.dropLease()
  }
}

/** What the failure stream remembers of a message's failed attempts. */
interface FailureRecord {
  readonly failures: number
  readonly firstFailureAt: number | undefined
  /** The server's delivered count of the delivery that failed last. */
  readonly delivered: number
  /** Runs alone in a handler since then (Delivery.beginSolo, packages/core/src/isolation.ts). */
  readonly solo: number
}

const NO_FAILURE: FailureRecord = { failures: 0, firstFailureAt: undefined, delivered: 0, solo: 0 }

const parseFailureRecord = (text: string): FailureRecord => {
  try {
    const r: unknown = JSON.parse(text)
    if (typeof r === "object" && r !== null) {
      const { failures, first, delivered, solo } = r as Record<string, unknown>
      if (typeof failures === "number" && typeof delivered === "number") {
        return { failures, delivered, firstFailureAt: typeof first === "number" && first > 0 ? first : undefined, solo: typeof solo === "number" ? solo : 0 }
      }
    }
  } catch {
    // not ours: as if there were no record
  }
  return NO_FAILURE
}

export class NatsDelivery implements Delivery {
  readonly envelope: Envelope
  readonly attempt: number
  readonly redeliveries: number
  readonly firstFailureAt: number | undefined
  private readonly delivered: number
  private readonly failures: number
  private readonly record: FailureRecord
  /** beginSolo wrote a record: it is removed with the message. */
  private soloWritten = false
  private readonly owner: GroupConsumption
  private readonly ctx: Ctx
  readonly reply: string
  private readonly failureSubject: string
  private settled = false
  /** When it arrived, and whether the consumption still extends its lease. */
  readonly since = Date.now()
  leased = true

  constructor(owner: GroupConsumption, ctx: Ctx, reply: string, envelope: Envelope, delivered: number, failure: FailureRecord, failureSubject: string) {
    this.owner = owner
    this.ctx = ctx
    this.reply = reply
    this.envelope = envelope
    this.delivered = delivered
    this.failures = failure.failures
    this.record = failure
    this.attempt = failure.failures + 1
    this.redeliveries = Math.max(0, delivered - failure.delivered - 1)
    this.firstFailureAt = failure.firstFailureAt
    this.failureSubject = failureSubject
  }

  dropLease(): void {
    this.leased = false
  }

  private begin(operation: string): void {
    if (this.settled) throw new BrokerError({ operation, reason: "delivery already settled" })
    if (!this.ctx.link.usable) throw new BusClosed({ operation })
    this.settled = true
    this.dropLease()
  }

  /** Sends an ack-protocol body and waits for the server to confirm it. */
  private async send(operation: string, body: string): Promise<void> {
    const startedAt = Date.now()
    try {
      await this.ctx.link.confirm(this.reply, body, 5_000)
      this.ctx.link.jetStreamAnswered()
    } catch (e) {
      // unconfirmed in time: the consumer's leader is out of this server's reach, maybe only from here
      if (/timeout/i.test(reasonOf(e))) this.ctx.link.jetStreamFailed(startedAt)
      throw new BrokerError({ operation, reason: reasonOf(e), cause: e })
    } finally {
      this.owner.settleLocally(this)
    }
  }

  /** Counts the run in the message's failure record (the same subject, read on every redelivery). */
  async beginSolo(): Promise<number> {
    const r = this.record
    await this.ctx.js.publish(this.failureSubject, JSON.stringify({ failures: r.failures, first: r.firstFailureAt, delivered: r.delivered, solo: r.solo + 1 }))
    this.soloWritten = true
    return r.solo
  }

  private forgetFailure(): void {
    if (this.failures > 0 || this.soloWritten) this.ctx.jsm.streams.purge(this.ctx.settings.failureStream, { filter: this.failureSubject }).catch(() => undefined)
  }

  async ack(): Promise<void> {
    this.begin("ack")
    await this.send("ack", "+ACK")
    this.forgetFailure()
  }

  async retry(options: { readonly delayMs: number; readonly firstFailureAt: number }): Promise<void> {
    this.begin("retry")
    const record = { failures: this.failures + 1, first: this.firstFailureAt ?? options.firstFailureAt, delivered: this.delivered }
    try {
      await this.ctx.js.publish(this.failureSubject, JSON.stringify(record))
    } catch {
      // without the record this failure is not counted (the attempt repeats and shows as a
      // redelivery, which maxRedeliveries bounds); the retry itself matters more
    }
    await this.send("retry", `-NAK ${JSON.stringify({ delay: nanos(Math.max(0, options.delayMs)) })}`)
  }

  async release(): Promise<void> {
    this.begin("release")
    await this.send("release", "-NAK")
  }

  async deadLetter(failure: FailureMetadata): Promise<void> {
    this.begin("deadLetter")
    try {
      const extra = failureToHeaders(failure)
      const { headers, data } = await this.ctx.wire.encode(this.envelope, extra)
      const ack = parseAckSubject(this.reply)
      await this.ctx.publisher.send(
        `${this.ctx.settings.deadLetterStream}.${encodeGroup(failure.group)}`,
        data,
        headers,
        `dlq-${encodeGroup(failure.group)}-${ack?.stream ?? ""}-${ack?.streamSeq ?? this.envelope.id}`,
      )
    } catch (e) {
      // Not dead-lettered: give the message back so it is not lost.
      this.owner.settleLocally(this)
      if (this.ctx.link.usable) this.ctx.link.nc.publish(this.reply, "-NAK")
      throw e instanceof BrokerError ? e : new BrokerError({ operation: "deadLetter", reason: reasonOf(e), cause: e })
    }
    await this.send("deadLetter", "+ACK")
    this.forgetFailure()
  }
}
