/**
 * Coalesces publishes issued in the same turn of the event loop into one
 * transport batch: `publish` per message stays one call for users while the
 * broker sees pipelined batches (one confirm wait for many messages).
 * Also the ledger of in-flight publishes that close() waits for.
 */
import { Drain } from "./drain.ts"
import type { Envelope } from "./envelope.ts"
import { BusClosed, PublishFailed } from "./errors.ts"
import type { OnPublishOutcome, PublishOutcome, Transport } from "./transport.ts"

const MAX_BATCH = 1_000

interface Pending {
  readonly envelope: Envelope
  readonly resolve: (outcome: PublishOutcome) => void
}

export class Publisher {
  private queue: Array<Pending> = []
  private scheduled = false
  private readonly inflight = new Drain()
  private readonly transport: Transport

  constructor(transport: Transport) {
    this.transport = transport
  }

  /** Sends one envelope with whatever else is published in this turn. */
  send(envelope: Envelope): Promise<PublishOutcome> {
    return this.inflight.track(
      new Promise<PublishOutcome>((resolve) => {
        this.queue.push({ envelope, resolve })
        if (this.queue.length >= MAX_BATCH) this.flush()
        else if (!this.scheduled) {
          this.scheduled = true
          setImmediate(() => this.flush())
        }
      }),
    )
  }

  /** Sends a caller-made batch as it is (already one transport call). */
  async sendBatch(batch: ReadonlyArray<Envelope>): Promise<ReadonlyArray<PublishOutcome>> {
    if (batch.length === 0) return []
    return this.inflight.track(this.call(batch))
  }

  /** Resolves when every publish issued so far has settled. */
  flushed(): Promise<void> {
    return this.inflight.done()
  }

  private flush(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    if (batch.length === 0) return
    // Each publish resolves on its entry's own outcome where the transport reports it early
    // (a later resolve of the same promise is a no-op), else with the whole batch.
    void this.call(batch.map((p) => p.envelope), (i, outcome) => batch[i]?.resolve(outcome)).then((outcomes) => {
      batch.forEach((p, i) => p.resolve(outcomes[i] ?? { ok: false, error: new PublishFailed({ key: p.envelope.routingKey, reason: "no outcome from transport" }) }))
    })
  }

  private async call(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome): Promise<ReadonlyArray<PublishOutcome>> {
    try {
      return await this.transport.publish(batch, onOutcome)
    } catch (e) {
      const reason = e instanceof BusClosed ? "bus is closed" : e instanceof Error ? e.message : String(e)
      return batch.map((env) => ({ ok: false as const, error: new PublishFailed({ key: env.routingKey, reason, cause: e }) }))
    }
  }
}
