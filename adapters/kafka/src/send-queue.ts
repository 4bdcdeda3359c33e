/**
 * Coalesces single-record sends to one topic: one produce request in flight
 * per topic, records that arrive meanwhile go out together in the next one.
 * RPC sends one record per request and per reply; sent one by one, 64
 * concurrent requests queued behind each other on the idempotent producer
 * (hundreds of ms each on a loaded machine) and timed out.
 */
import type { KafkaClient, OutRecord } from "./client.ts"

interface Waiting {
  readonly record: OutRecord
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
}

export class SendQueue {
  private readonly client: KafkaClient
  private readonly queues = new Map<string, Array<Waiting>>()
  private readonly busy = new Set<string>()

  constructor(client: KafkaClient) {
    this.client = client
  }

  send(topic: string, record: OutRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let q = this.queues.get(topic)
      if (!q) this.queues.set(topic, (q = []))
      q.push({ record, resolve, reject })
      if (!this.busy.has(topic)) void this.flush(topic)
    })
  }

  private async flush(topic: string): Promise<void> {
    this.busy.add(topic)
    try {
      for (;;) {
        const batch = this.queues.get(topic)
        if (!batch || batch.length === 0) break
        this.queues.delete(topic)
        try {
          await this.client.send(topic, batch.map((w) => w.record))
          for (const w of batch) w.resolve()
        } catch (e) {
          for (const w of batch) w.reject(e)
        }
      }
    } finally {
      this.busy.delete(topic)
    }
  }
}
