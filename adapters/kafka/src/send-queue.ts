/**
 * Every produce of the adapter (publish batches, RPC requests and replies)
 * goes through here: one produce request in flight per topic, sends that
 * arrive meanwhile go out together in the next one. The idempotent producer
 * allows one request in flight at a time anyway; sent one by one, 64
 * concurrent RPC requests queued behind each other (hundreds of ms each on a
 * loaded machine) and timed out, and at 2,000 msg/s each core publish batch
 * (one per ms) waited for every earlier one: end-to-end p50 1,079 ms in the
 * first bench run after a broker start, 120 ms coalesced (bench/FINDINGS.md).
 */
import type { KafkaClient, OutRecord } from "./client.ts"

interface Waiting {
  readonly records: ReadonlyArray<OutRecord>
  readonly bytes: number
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
}

const sizeOf = (records: ReadonlyArray<OutRecord>): number => {
  let n = 0
  for (const r of records) {
    n += r.value.byteLength + (r.key?.length ?? 0)
    for (const k in r.headers) n += k.length + r.headers[k]!.length
  }
  return n
}

export class SendQueue {
  private readonly client: KafkaClient
  private readonly maxRequestBytes: number
  private readonly queues = new Map<string, Array<Waiting>>()
  private readonly busy = new Set<string>()

  /**
   * `maxRequestBytes`: sends are joined only up to this many bytes (the payload limit): the
   * topics' max.message.bytes (topology.ts) bounds a partition's record batch in one request,
   * and every send fit alone. A send is never split: it succeeds or fails whole.
   */
  constructor(client: KafkaClient, maxRequestBytes: number) {
    this.client = client
    this.maxRequestBytes = maxRequestBytes
  }

  send(topic: string, records: ReadonlyArray<OutRecord>): Promise<void> {
    if (records.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      let q = this.queues.get(topic)
      if (!q) this.queues.set(topic, (q = []))
      q.push({ records, bytes: sizeOf(records), resolve, reject })
      if (!this.busy.has(topic)) void this.flush(topic)
    })
  }

  private take(topic: string): Array<Waiting> {
    const q = this.queues.get(topic)
    if (!q || q.length === 0) return []
    let bytes = q[0]!.bytes
    let n = 1
    while (n < q.length && bytes + q[n]!.bytes <= this.maxRequestBytes) bytes += q[n++]!.bytes
    if (n === q.length) this.queues.delete(topic)
    return q.splice(0, n)
  }

  private async flush(topic: string): Promise<void> {
    this.busy.add(topic)
    try {
      for (let batch = this.take(topic); batch.length > 0; batch = this.take(topic)) {
        try {
          await this.client.send(topic, batch.length === 1 ? batch[0]!.records : batch.flatMap((w) => w.records))
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
