/**
 * JetStream publishing: every entry is sent at once (pipelined) with
 * `Nats-Msg-Id` = envelope id, so the stream's duplicate window drops
 * re-sends. A publish whose PubAck does not come (disconnect, server restart,
 * JetStream not ready) is re-sent with the same id until publishTimeoutMs:
 * unconfirmed messages survive a reconnect without duplicates.
 */
import type { Msg, MsgHdrs } from "@nats-io/nats-core"
import { BusClosed, PublishFailed } from "@omnibus/core"
import { cloudEventHeaders } from "@omnibus/core/adapter"
import type { Envelope, OnPublishOutcome, PublishOutcome } from "@omnibus/core/adapter"
import type { NatsSettings } from "./config.ts"
import { reasonOf } from "./connection.ts"
import type { Link } from "./connection.ts"
import type { WireCodec } from "./wire.ts"

/**
 * A PubAck `{duplicate: true, seq: 0}`: the stream leader has a message with this id in flight (proposed,
 * not yet stored by a majority) and did not store this one. Not a confirm: nats-server 2.10 gives it to a
 * re-send while the first try waits for a quorum, e.g. on a leader cut off from the other nodes, which
 * never stores it (the partition case of the cluster suite, conformance/src/clusters/partition.ts, lost
 * every message confirmed that way). Sent again until a PubAck with a sequence comes.
 */
const IN_FLIGHT = "duplicate of a message not stored yet (in flight on the stream leader)"

/** Errors that mean "not confirmed yet, try again": the server may not have the message. */
const transient = (e: unknown): boolean => {
  const text = reasonOf(e).toLowerCase()
  return text.includes(IN_FLIGHT) || (/timeout|no responders|503|disconnect|connection|reconnect|closed/.test(text) && !/max_payload|maximum payload|too large/.test(text))
}

const OK: PublishOutcome = { ok: true }

/** JetStream's de-duplication header (what js.publish's msgID option sets). */
const MSG_ID = "Nats-Msg-Id"

const decoder = new TextDecoder()

/**
 * A PubAck is JSON: {stream, seq[, duplicate]} or {error: {code, description}}; a refusal throws with its
 * code, a duplicate of a message in flight (seq 0) throws IN_FLIGHT (transient).
 */
export const readPubAck = (msg: Pick<Msg, "data">): void => {
  let ack: { readonly stream?: unknown; readonly seq?: unknown; readonly duplicate?: unknown; readonly error?: { readonly code?: number; readonly description?: string } }
  try {
    ack = JSON.parse(decoder.decode(msg.data)) as typeof ack
  } catch {
    throw new Error("invalid PubAck from the server (not JSON)")
  }
  if (ack.error !== undefined) throw new Error(`${ack.error.code ?? "?"} ${ack.error.description ?? "JetStream refused the message"}`)
  if (typeof ack.stream !== "string") throw new Error("invalid PubAck from the server (no stream)")
  if (ack.duplicate === true && ack.seq === 0) throw new Error(IN_FLIGHT)
}

/** One message on its way to a PubAck. */
interface Sending {
  readonly subject: string
  readonly data: Uint8Array
  /** Carries Nats-Msg-Id, the same on every try. */
  readonly headers: MsgHdrs
  readonly deadline: number
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
  /** Number of the latest try: a failure of an older one is stale (a newer try is on its way). */
  tries: number
  /** Backoff before the next try after a transient error. */
  wait: number
  /** Set while waiting out the backoff (no try in flight). */
  timer: NodeJS.Timeout | undefined
}

export class Publisher {
  private readonly link: Link
  private readonly wire: WireCodec
  private readonly s: NatsSettings
  /** Publishes in flight, awaited by close(). */
  readonly inFlight = new Set<Promise<unknown>>()
  /** Every message waiting for its PubAck, so one reconnect listener can send them all again. */
  private readonly sending = new Set<Sending>()

  constructor(link: Link, wire: WireCodec, settings: NatsSettings) {
    this.link = link
    this.wire = wire
    this.s = settings
    // A reconnect while waiting means the PubAck (or the message) may be lost with the old
    // socket: send again at once (same msg id, so the stream's duplicate window keeps one
    // copy) instead of waiting for the request timeout. Whichever try is confirmed first wins.
    link.onReconnect(() => {
      for (const m of this.sending) {
        if (m.timer === undefined) {
          m.wait = 100
          this.attempt(m)
        }
      }
    })
  }

  subject(routingKey: string): string {
    return `${this.s.stream}.${routingKey}`
  }

  /** Every entry's outcome also goes to `onOutcome` on its own PubAck. */
  publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    if (!this.link.usable) return Promise.reject(new BusClosed({ operation: "publish" }))
    // Every message of the batch is handed to the client in this turn, so they leave in one socket write.
    const all = Promise.all(batch.map((e, i) => (onOutcome === undefined ? this.one(e) : this.one(e).then((o) => (onOutcome(i, o), o)))))
    this.track(all)
    return all
  }

  track(p: Promise<unknown>): void {
    this.inFlight.add(p)
    const done = () => this.inFlight.delete(p)
    p.then(done, done)
  }

  private one(e: Envelope): Promise<PublishOutcome> {
    const failed = (err: unknown): PublishOutcome => ({ ok: false, error: new PublishFailed({ key: e.routingKey, reason: reasonOf(err), cause: err }) })
    try {
      const subject = this.subject(e.routingKey)
      const ce = this.s.cloudEvents && cloudEventHeaders(e, "nats", this.s.cloudEvents)
      const inline = this.wire.encodeInline(e, ce)
      const sent = inline
        ? this.send(subject, inline.data, inline.headers, e.id)
        : this.wire.encode(e, ce).then(({ headers, data }) => this.send(subject, data, headers, e.id))
      return sent.then(() => OK, failed)
    } catch (err) {
      return Promise.resolve(failed(err))
    }
  }

  /** Publishes to a stream subject until a PubAck arrives (same msg id on every try). */
  send(subject: string, data: Uint8Array, headers: MsgHdrs, msgID: string): Promise<void> {
    headers.set(MSG_ID, msgID)
    return new Promise<void>((resolve, reject) => {
      const m: Sending = { subject, data, headers, deadline: Date.now() + this.s.publishTimeoutMs, resolve, reject, tries: 0, wait: 100, timer: undefined }
      this.sending.add(m)
      this.attempt(m)
    })
  }

  private attempt(m: Sending): void {
    m.timer = undefined
    if (this.link.aborted) return this.fail(m, new Error("connection aborted before the broker confirmed"))
    const tries = ++m.tries
    const startedAt = Date.now()
    // What js.publish does (Nats-Msg-Id header, request, read the PubAck), on the link's shared
    // reply subscription: js.publish goes through nc.request, which builds an Error with a stack
    // for every call (5 % of the end-to-end profile, bench/FINDINGS.md).
    this.link.ask(m.subject, m.data, m.headers, Math.max(500, Math.min(5_000, m.deadline - startedAt))).then(readPubAck).then(
      () => {
        this.link.jetStreamAnswered()
        if (this.sending.delete(m)) m.resolve()
      },
      (err: unknown) => {
        const retryable = transient(err)
        if (retryable) this.link.jetStreamFailed(startedAt)
        if (tries !== m.tries || !this.sending.has(m)) return
        if (!retryable || this.link.nc.isClosed() || Date.now() + m.wait >= m.deadline) return this.fail(m, err)
        m.timer = setTimeout(() => this.attempt(m), m.wait)
        m.wait = Math.min(m.wait * 2, 1_000)
      },
    )
  }

  private fail(m: Sending, err: unknown): void {
    if (this.sending.delete(m)) m.reject(err)
  }
}
