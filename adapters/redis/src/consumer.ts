/**
 * One consumption of a group: competing consumers on the group's stream.
 *
 * - New entries: XREADGROUP COUNT <free prefetch slots> BLOCK on a dedicated
 *   connection, so at most `prefetch` deliveries are unsettled at once; the
 *   next read waits until half the prefetch is free (reads come in batches),
 *   or until no slot was freed for REFILL_WAIT_MS: deliveries held for long
 *   (slow handlers, an ordered key waiting for its retry) must not keep the
 *   other slots empty.
 * - Crash redelivery: every `sweepMs` the loop claims entries idle for longer
 *   than the lease (XAUTOCLAIM, in the CLAIM script with their delivery counts).
 * - Leases: while deliveries are unsettled, XCLAIM ... JUSTID on them every
 *   leaseMs/3 resets their idle time (JUSTID leaves the delivery count alone).
 * - Attempt = x-omnibus-attempt header (default 1; a retry writes a fresh entry
 *   with header + 1). Redeliveries = the entry's delivery count - 1 (crash
 *   claims, released entries).
 * - Delayed retries wait in a sorted set; the PROMOTE script moves due ones
 *   back into the stream (timer at the next due time, plus every sweep).
 * - Acked entries are XDELeted at once (one consumer group per stream), so the
 *   stream holds only unacked and undelivered entries. Acks that pile up while
 *   one is on the way go out as one script call.
 */
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { BusClosed, Wire } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, Delivery, Envelope, FailureMetadata } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import { Batcher } from "./batcher.ts"
import { describe } from "./connection.ts"
import { Signal, sleep, trackClientId, unblock, type AdapterContext } from "./context.ts"
import { failureFields, fallbackFields, parseFields, toEnvelope, type ParsedEntry } from "./fields.ts"
import type { ScriptedRedis } from "./scripts.ts"
import { declareGroup, removeGroup } from "./topology.ts"

/** Below half free, read with what is free once no slot was freed for this long. */
const REFILL_WAIT_MS = 5

/** Idle time given to a released entry so the next sweep of any consumer claims it. */
const RELEASED_IDLE_MS = 1_000_000_000

/** A solo-run count outlives its entry only if a crash came between settling and clearing it. */
const SOLO_TTL_MS = 7 * 24 * 3_600_000

/** Ids per ACK script call (Lua's unpack() stops at ~8000 arguments). */
const ACK_BATCH = 1_000

const SETTLED: Promise<void> = Promise.resolve()

/** toString() without arguments is Buffer's fast path to utf8Slice. */
const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v))

/**
 * One delivery: a plain object with methods (no closures per message), its
 * settlements run by the consumer.
 */
class StreamDelivery implements Delivery {
  readonly envelope: Envelope
  readonly attempt: number
  readonly redeliveries: number
  readonly firstFailureAt: number | undefined
  readonly entryId: string
  settled = false
  /** beginSolo counted a run in the group's solo hash: cleared once settled. */
  solo = false
  private readonly consumer: StreamConsumer
  private readonly headers: Readonly<Record<string, string>>

  constructor(consumer: StreamConsumer, entryId: string, parsed: ParsedEntry, deliveryCount: number) {
    this.consumer = consumer
    this.entryId = entryId
    this.headers = parsed.headers
    const base = Number(parsed.headers[Wire.attempt] ?? 1)
    this.attempt = Number.isFinite(base) && base > 0 ? base : 1
    const ff = Number(parsed.headers[Wire.firstFailure])
    this.firstFailureAt = Number.isFinite(ff) && ff > 0 ? ff : undefined
    this.redeliveries = Math.max(1, deliveryCount) - 1
    this.envelope = toEnvelope(entryId, parsed, consumer.stream)
  }

  /**
   * A foreign entry (XADDed without Omnibus metadata) got its id, routing key and timestamp from
   * fallbacks (entry id, stream, entry time): written into its retry and dead-letter copies, so
   * those keep the id the consumer saw (idempotency, replay by id) instead of their own entry id.
   */
  fallbacks(): Array<string> {
    return fallbackFields(this.headers, this.envelope)
  }

  beginSolo(): Promise<number> {
    return this.consumer.beginSolo(this)
  }

  ack(): Promise<void> {
    return this.consumer.ack(this)
  }

  retry(options: { readonly delayMs: number; readonly firstFailureAt: number }): Promise<void> {
    return this.consumer.settle(this, () => this.consumer.retry(this, options.delayMs, options.firstFailureAt))
  }

  release(): Promise<void> {
    return this.consumer.settle(this, () => this.consumer.release(this.entryId))
  }

  deadLetter(failure: FailureMetadata): Promise<void> {
    return this.consumer.settle(this, () => this.consumer.deadLetter(this, failure))
  }
}

export class StreamConsumer implements Consumption {
  private readonly ctx: AdapterContext
  private readonly spec: ConsumeSpec
  private readonly onDelivery: (delivery: Delivery) => void
  private readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  readonly stream: string
  /** Entry ids delivered and not settled yet (their leases are kept alive). Ids only: a handled message waiting for its ack holds nothing else. */
  private readonly unsettled = new Set<string>()
  private readonly slotFreed = new Signal()
  private free: number
  /**
   * Free slots that make a read worth it: reading as soon as one slot frees up
   * would fetch one entry per round trip; waiting for half the prefetch reads
   * in batches while the other half is still being handled.
   */
  private readonly refillAt: number
  /** Acks issued in one turn go out as one ACK script call (XACK + XDEL of every entry id). */
  private readonly acks: Batcher<string, void>
  private stopped = false
  private closed = false
  private blocker: Redis | undefined
  /** Settlements and leases (see AdapterContext.settler). */
  private settler!: ScriptedRedis
  private blockerId: number | undefined
  private loopDone: Promise<void> = Promise.resolve()
  private cursor = "0-0"
  private nextSweep = 0
  private keepAlive: NodeJS.Timeout | undefined
  private promoteTimer: NodeJS.Timeout | undefined
  private promoteAt = Infinity
  private promoteEvery: NodeJS.Timeout | undefined

  constructor(ctx: AdapterContext, spec: ConsumeSpec, onDelivery: (delivery: Delivery) => void) {
    this.ctx = ctx
    this.spec = spec
    this.onDelivery = onDelivery
    this.free = Math.max(1, spec.prefetch)
    this.refillAt = Math.ceil(this.free / 2)
    this.stream = ctx.keys.group(spec.group)
    this.acks = new Batcher((ids) => this.sendAcks(ids), { max: ACK_BATCH, start: "turn", inFlight: "many" })
  }

  async start(): Promise<void> {
    await declareGroup(this.ctx.cmd, this.ctx.keys, this.spec)
    this.ctx.declared.set(this.spec.group, this.spec)
    this.settler = await this.ctx.settler()
    const blocker = await this.ctx.openBlocker(`omnibus:consumer:${this.spec.group}`)
    this.blocker = blocker
    trackClientId(blocker, (id) => { this.blockerId = id })
    this.keepAlive = setInterval(() => void this.extendLeases(), Math.max(10, Math.floor(this.ctx.leaseMs / 3)))
    this.promoteEvery = setInterval(() => void this.promote(), this.ctx.sweepMs)
    void this.promote()
    this.loopDone = this.loop()
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.stopped && this.ctx.isOpen()) {
      if (this.free === 0) {
        await this.slotFreed.wait(this.ctx.sweepMs)
        continue
      }
      // Below half free: wait while acks keep freeing slots; once none came for REFILL_WAIT_MS
      // (handlers are holding theirs), read with what is free.
      while (this.free < this.refillAt && !this.stopped) {
        const before = this.free
        await this.slotFreed.wait(REFILL_WAIT_MS)
        if (this.free === before) break
      }
      try {
        if (Date.now() >= this.nextSweep) {
          await this.sweep()
          this.nextSweep = Date.now() + this.ctx.sweepMs
          continue
        }
        await this.read(Math.max(1, this.nextSweep - Date.now()))
        failures = 0
      } catch (e) {
        if (this.stopped || !this.ctx.isOpen()) break
        if (/NOGROUP/.test(describe(e))) {
          // the server lost the group (restart without persistence): declare it again
          await declareGroup(this.ctx.cmd, this.ctx.keys, this.spec).catch(() => {})
        } else {
          await sleep(Math.min(50 * 2 ** failures++, 1_000))
        }
      }
    }
  }

  private async read(blockMs: number): Promise<void> {
    const blocker = this.blocker!
    // A read that outlives its block time by a heartbeat sits on a dead link: reconnect
    // (ioredis re-sends the read on the new connection, so it still resolves here).
    const hb = this.ctx.heartbeatMs
    const guard = hb > 0 ? setTimeout(() => { if (blocker.status === "ready") blocker.disconnect(true) }, blockMs + hb) : undefined
    let reply: Array<[Buffer, Array<[Buffer, Array<Buffer> | null]>]> | null
    try {
      reply = (await blocker.callBuffer(
        "XREADGROUP", "GROUP", this.spec.group, this.consumer, "COUNT", this.free, "BLOCK", blockMs, "STREAMS", this.stream, ">",
      )) as Array<[Buffer, Array<[Buffer, Array<Buffer> | null]>]> | null
    } finally {
      clearTimeout(guard)
    }
    if (!reply) return
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) {
        if (fields) this.deliver(str(id), fields, 1)
      }
    }
  }

  /** Claims entries whose lease ran out (their consumer crashed or released them). */
  private async sweep(): Promise<void> {
    const reply = (await this.ctx.cmd.omnibusClaimBuffer(
      this.stream, this.spec.group, this.consumer, this.ctx.leaseMs, this.free, this.cursor,
    )) as [Buffer, Array<[Buffer, Array<Buffer>, number]>]
    this.cursor = str(reply[0])
    for (const [id, fields, count] of reply[1]) this.deliver(str(id), fields, Number(count))
  }

  private deliver(entryId: string, fields: ReadonlyArray<Buffer>, deliveryCount: number): void {
    if (this.stopped) {
      // read raced with stop(): hand it straight back. After an abort (crash) the
      // connection is gone: leave it to the lease, like every other unsettled entry
      // (a release there would only reject, unhandled).
      if (this.ctx.isOpen()) this.release(entryId).catch(() => {})
      return
    }
    const delivery = new StreamDelivery(this, entryId, parseFields(fields), deliveryCount)
    this.unsettled.add(entryId)
    this.free--
    this.onDelivery(delivery)
  }

  /** Runs a delivery's settlement once; its slot is freed when the server confirmed it (or refused). */
  async settle(d: StreamDelivery, op: () => Promise<unknown>): Promise<void> {
    const refused = this.begin(d)
    if (refused) return refused
    try {
      await op()
      if (d.solo) await this.settler.hdel(this.ctx.keys.solo(this.spec.group), d.entryId).catch(() => 0)
    } finally {
      this.forget(d.entryId)
    }
  }

  /**
   * Marks `d` settled and returns undefined when its settlement may run; else what the
   * settlement comes to: nothing for one already settled, BusClosed once the bus closed.
   */
  private begin(d: StreamDelivery): Promise<void> | undefined {
    if (d.settled) return SETTLED
    if (!this.ctx.isOpen()) return Promise.reject(new BusClosed({ operation: "settle" }))
    d.settled = true
    return undefined
  }

  /** A settled delivery leaves the unsettled set; its prefetch slot is free. */
  private forget(entryId: string): void {
    this.unsettled.delete(entryId)
    this.free++
    this.slotFreed.notify()
  }

  /**
   * settle() for the settlement of nearly every message, without a promise or
   * closure of its own: the ACK call's promise is shared by every entry of that
   * call, and the batcher holds the entry id, not the delivery (a handled
   * message waiting for its ack keeps nothing alive but its id). A solo run's
   * delivery takes settle(), which also clears its run count after the ack.
   */
  ack(d: StreamDelivery): Promise<void> {
    if (d.solo) return this.settle(d, () => this.ackOnServer([d.entryId]))
    return this.begin(d) ?? this.acks.add(d.entryId)
  }

  /** The ACK script (XACK + XDEL) for these entries of the group's stream. */
  private ackOnServer(ids: ReadonlyArray<string>): Promise<unknown> {
    return this.settler.omnibusAck(this.stream, this.spec.group, ...ids)
  }

  /** A batch of acks; their slots are freed once the server answered (or refused). */
  private async sendAcks(ids: ReadonlyArray<string>): Promise<void> {
    try {
      await this.ackOnServer(ids)
    } finally {
      for (const id of ids) this.forget(id)
    }
  }

  async retry(d: StreamDelivery, delayMs: number, firstFailureAt: number): Promise<void> {
    const { keys } = this.ctx
    const group = this.spec.group
    const delay = Math.max(0, Math.round(delayMs))
    await this.settler.omnibusRetry(this.stream, keys.waiting(group), keys.due(group), group, d.entryId, delay, d.attempt + 1, Math.round(firstFailureAt), ...d.fallbacks())
    if (delay > 0) this.schedulePromote(delay)
  }

  deadLetter(d: StreamDelivery, failure: FailureMetadata): Promise<unknown> {
    const group = this.spec.group
    return this.settler.omnibusDeadLetter(this.stream, this.ctx.keys.deadLetters(group), group, d.entryId, ...failureFields(failure), ...d.fallbacks())
  }

  async beginSolo(d: StreamDelivery): Promise<number> {
    const key = this.ctx.keys.solo(this.spec.group)
    const [counted] = (await this.settler.multi().hincrby(key, d.entryId, 1).pexpire(key, SOLO_TTL_MS).exec()) ?? []
    if (counted?.[0]) throw counted[0]
    d.solo = true
    return Number(counted?.[1] ?? 1) - 1
  }

  /** Marks the entry long idle, so the next sweep (of any consumer) redelivers it, keeping its place in the stream. */
  release(entryId: string): Promise<unknown> {
    return this.settler.call("XCLAIM", this.stream, this.spec.group, this.consumer, 0, entryId, "IDLE", RELEASED_IDLE_MS, "JUSTID")
  }

  private async extendLeases(): Promise<void> {
    if (this.unsettled.size === 0 || !this.ctx.isOpen()) return
    const ids = [...this.unsettled]
    try {
      await this.settler.call("XCLAIM", this.stream, this.spec.group, this.consumer, 0, ...ids, "JUSTID")
    } catch {
      // next tick tries again; a lost lease means at-least-once redelivery, never loss
    }
  }

  private schedulePromote(inMs: number): void {
    const at = Date.now() + inMs
    if (at >= this.promoteAt) return
    if (this.promoteTimer) clearTimeout(this.promoteTimer)
    this.promoteAt = at
    this.promoteTimer = setTimeout(() => {
      this.promoteTimer = undefined
      this.promoteAt = Infinity
      void this.promote()
    }, Math.max(0, inMs))
  }

  private async promote(): Promise<void> {
    if (this.closed || !this.ctx.isOpen()) return
    const { cmd, keys } = this.ctx
    const g = this.spec.group
    try {
      for (;;) {
        const [moved, wait] = (await cmd.omnibusPromote(keys.group(g), keys.waiting(g), keys.due(g), 100)) as [number, number]
        if (moved < 100) {
          if (wait >= 0) this.schedulePromote(wait)
          return
        }
      }
    } catch {
      // retried by the periodic promotion
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.loopDone
    this.stopped = true
    this.slotFreed.notify()
    await unblock(this.ctx.cmd, this.blockerId)
    await this.loopDone
  }

  async close(): Promise<void> {
    await this.stop()
    if (this.closed) return
    this.closed = true
    clearInterval(this.keepAlive)
    clearInterval(this.promoteEvery)
    if (this.promoteTimer) clearTimeout(this.promoteTimer)
    this.blocker?.disconnect(false)
    if (!this.ctx.isOpen()) return
    const { cmd, keys } = this.ctx
    if (this.spec.ephemeral) {
      this.ctx.declared.delete(this.spec.group)
      await removeGroup(cmd, keys, this.spec.group)
    } else {
      await cmd.omnibusDropConsumer(this.stream, this.spec.group, this.consumer).catch(() => {})
    }
  }

  /** Transport abort: stop everything locally, touch nothing on the server. */
  abort(): void {
    this.stopped = true
    this.closed = true
    clearInterval(this.keepAlive)
    clearInterval(this.promoteEvery)
    if (this.promoteTimer) clearTimeout(this.promoteTimer)
    this.slotFreed.notify()
    this.blocker?.disconnect(false)
  }
}
