/**
 * Publishing with publisher confirms on one ConfirmChannel: a batch is written
 * in one go (pipelined) and each entry resolves when its basic.ack/nack comes
 * back. Entries whose channel died before the confirm are kept and written
 * again on the next channel (at-least-once), until publishTimeoutMs.
 */
import type { ChannelModel, ConfirmChannel, Options } from "amqplib"
import { PublishFailed } from "@omnibus/core"
import type { OnPublishOutcome, PublishOutcome } from "@omnibus/core/adapter"
import { replyCode, safeReason } from "./connection.ts"
import type { ConnectionHook, ConnectionManager } from "./connection.ts"

export interface OutgoingMessage {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly options: Options.Publish
  /** Named in errors (the envelope's routing key or method). */
  readonly key: string
}

interface Pending {
  readonly msg: OutgoingMessage
  readonly resolve: (outcome: PublishOutcome) => void
  settled: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

/** How long close() waits for outstanding confirms. */
const FLUSH_TIMEOUT_MS = 15_000

export class Publisher implements ConnectionHook {
  readonly order = 30
  private readonly manager: ConnectionManager
  private ch: ConfirmChannel | undefined
  private model: ChannelModel | undefined
  /** Not written on a live channel yet (or to be written again). */
  private backlog: Array<Pending> = []
  /** Written, awaiting the confirm. */
  private readonly inflight = new Set<Pending>()
  private idle: Array<() => void> = []
  /** Entries not settled yet (in the backlog or in flight). */
  private unsettled = 0
  private stopped = false

  constructor(manager: ConnectionManager) {
    this.manager = manager
  }

  async connected(model: ChannelModel): Promise<void> {
    this.model = model
    await this.openChannel(model)
  }

  disconnected(): void {
    this.model = undefined
    this.ch = undefined
  }

  private async openChannel(model: ChannelModel): Promise<void> {
    const ch = await this.manager.createConfirmChannel(model)
    let refusal: Error | undefined
    ch.on("error", (e: Error) => { refusal = e })
    ch.on("close", () => {
      if (this.ch === ch) this.ch = undefined
      // A broker refusal (e.g. 404 no exchange) closed the channel: writing the
      // same messages again would fail the same way, so fail what was in flight.
      const code = replyCode(refusal)
      if (refusal !== undefined && code !== undefined && code >= 400 && code < 500) {
        for (const p of [...this.inflight]) this.settle(p, { ok: false, error: new PublishFailed({ key: p.msg.key, reason: safeReason(refusal) }) })
      }
      // The connection is still up (only this channel died): open another one.
      if (!this.stopped && this.model === model && this.manager.isLive(model)) {
        void this.openChannel(model).catch(() => {})
      }
    })
    this.ch = ch
    this.flush()
  }

  /** Writes every entry at once; resolves with one outcome per entry after the confirms, and reports each to `onOutcome` on its own confirm. */
  send(batch: ReadonlyArray<OutgoingMessage>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    const outcomes = batch.map(
      (msg, i) =>
        new Promise<PublishOutcome>((resolve) => {
          const settled = onOutcome === undefined ? resolve : (o: PublishOutcome) => (onOutcome(i, o), resolve(o))
          const p: Pending = { msg, resolve: settled, settled: false, timer: undefined }
          this.unsettled++
          p.timer = setTimeout(() => {
            this.settle(p, { ok: false, error: new PublishFailed({ key: msg.key, reason: `not confirmed by the broker within ${this.manager.settings.publishTimeoutMs} ms (${this.manager.lastError ?? "disconnected"})` }) })
          }, this.manager.settings.publishTimeoutMs)
          this.backlog.push(p)
        }),
    )
    this.flush()
    return Promise.all(outcomes)
  }

  private flush(): void {
    const ch = this.ch
    if (!ch) return
    const work = this.backlog
    this.backlog = []
    for (const p of work) {
      if (p.settled) continue
      if (this.ch !== ch) {
        this.backlog.push(p) // channel died mid-loop: keep for the next one
        continue
      }
      this.inflight.add(p)
      try {
        // amqplib buffers when the socket is busy; the confirms pace the caller.
        ch.publish(p.msg.exchange, p.msg.routingKey, p.msg.content, p.msg.options, (err: unknown) => this.confirmed(p, err))
      } catch (e) {
        this.inflight.delete(p)
        if (e instanceof RangeError) {
          this.settle(p, { ok: false, error: new PublishFailed({ key: p.msg.key, reason: safeReason(e), cause: e }) })
        } else {
          this.backlog.push(p) // channel already closed: written again on the next
        }
      }
    }
  }

  private confirmed(p: Pending, err: unknown): void {
    this.inflight.delete(p)
    if (p.settled) return
    if (err === null || err === undefined) return this.settle(p, { ok: true })
    if (err instanceof Error && err.message === "message nacked") {
      return this.settle(p, { ok: false, error: new PublishFailed({ key: p.msg.key, reason: "the broker nacked the message (e.g. queue length limit or internal error)" }) })
    }
    // Channel closed before the confirm: the message may or may not be stored;
    // write it again on the next channel (duplicates are possible, loss is not).
    if (this.manager.state === "closed") {
      return this.settle(p, { ok: false, error: new PublishFailed({ key: p.msg.key, reason: "connection closed before the broker confirmed" }) })
    }
    this.backlog.push(p)
    this.flush()
  }

  private settle(p: Pending, outcome: PublishOutcome): void {
    if (p.settled) return
    p.settled = true
    if (p.timer) clearTimeout(p.timer)
    this.inflight.delete(p)
    p.resolve(outcome)
    if (--this.unsettled === 0) {
      const idle = this.idle
      this.idle = []
      for (const f of idle) f()
    }
  }

  /** Waits for every outstanding confirm (bounded), then fails what is left. */
  async flushAndStop(): Promise<void> {
    if (this.unsettled > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, FLUSH_TIMEOUT_MS)
        this.idle.push(() => { clearTimeout(t); resolve() })
      })
    }
    this.stopped = true
    this.failAll("bus closed before the broker confirmed")
  }

  failAll(reason: string): void {
    this.stopped = true
    for (const p of [...this.inflight, ...this.backlog]) this.settle(p, { ok: false, error: new PublishFailed({ key: p.msg.key, reason }) })
    this.backlog = []
  }
}
