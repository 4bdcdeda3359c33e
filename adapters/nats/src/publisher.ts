/**
 * JetStream publishing: every entry is sent at once (pipelined) with
 * `Nats-Msg-Id` = envelope id, so the stream's duplicate window drops
 * re-sends. A publish whose PubAck does not come (disconnect, server restart,
 * JetStream not ready) is re-sent with the same id until publishTimeoutMs:
 * unconfirmed messages survive a reconnect without duplicates.
 */
import type { JetStreamClient, PubAck } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/nats-core"
import { BusClosed, PublishFailed } from "@omnibus/core"
import type { Envelope, PublishOutcome } from "@omnibus/core"
import type { NatsSettings } from "./config.ts"
import { reasonOf } from "./connection.ts"
import type { Link } from "./connection.ts"
import type { WireCodec } from "./wire.ts"

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const RECONNECTED = Symbol("reconnected")

/** Errors that mean "not confirmed yet, try again": the server may not have the message. */
const transient = (e: unknown): boolean => {
  const text = reasonOf(e).toLowerCase()
  return /timeout|no responders|503|disconnect|connection|reconnect|closed/.test(text) && !/max_payload|maximum payload|too large/.test(text)
}

export class Publisher {
  private readonly link: Link
  private readonly js: JetStreamClient
  private readonly wire: WireCodec
  private readonly s: NatsSettings
  /** Publishes in flight, awaited by close(). */
  readonly inFlight = new Set<Promise<unknown>>()

  constructor(link: Link, js: JetStreamClient, wire: WireCodec, settings: NatsSettings) {
    this.link = link
    this.js = js
    this.wire = wire
    this.s = settings
  }

  subject(routingKey: string): string {
    return `${this.s.stream}.${routingKey}`
  }

  publish(batch: ReadonlyArray<Envelope>): Promise<ReadonlyArray<PublishOutcome>> {
    if (!this.link.usable) return Promise.reject(new BusClosed({ operation: "publish" }))
    const all = Promise.all(batch.map((e) => this.one(e)))
    this.track(all)
    return all
  }

  track(p: Promise<unknown>): void {
    this.inFlight.add(p)
    const done = () => this.inFlight.delete(p)
    p.then(done, done)
  }

  private async one(e: Envelope): Promise<PublishOutcome> {
    try {
      const { headers, data } = await this.wire.encode(e)
      await this.send(this.subject(e.routingKey), data, headers, e.id)
      return { ok: true }
    } catch (err) {
      return { ok: false, error: new PublishFailed({ key: e.routingKey, reason: reasonOf(err), cause: err }) }
    }
  }

  /** Publishes to a stream subject until a PubAck arrives (same msg id on every try). */
  async send(subject: string, data: Uint8Array, headers: MsgHdrs, msgID: string): Promise<PubAck> {
    const deadline = Date.now() + this.s.publishTimeoutMs
    let wait = 100
    for (;;) {
      if (this.link.aborted) throw new Error("connection aborted before the broker confirmed")
      try {
        const attempt = this.js.publish(subject, data, {
          msgID,
          headers,
          timeout: Math.max(500, Math.min(5_000, deadline - Date.now())),
        })
        // A reconnect while waiting means the PubAck (or the message) may be
        // lost with the old socket: send again at once (same msg id, so the
        // stream's duplicate window keeps one copy) instead of waiting for
        // the request timeout.
        let off: (() => void) | undefined
        const reconnected = new Promise<typeof RECONNECTED>((resolve) => {
          off = this.link.onReconnect(() => resolve(RECONNECTED))
        })
        try {
          const result = await Promise.race([attempt, reconnected])
          if (result !== RECONNECTED) return result
        } finally {
          off?.()
        }
        attempt.catch(() => undefined)
        wait = 100
        continue
      } catch (err) {
        if (!transient(err) || this.link.nc.isClosed() || Date.now() + wait >= deadline) throw err
        await sleep(wait)
        wait = Math.min(wait * 2, 1_000)
      }
    }
  }
}
