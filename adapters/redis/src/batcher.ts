/**
 * Coalesces calls into one round trip: items added while a send is on the way
 * (and those added in the same turn) go out together as the next send, instead
 * of one round trip and one script run per item. Each item's promise settles
 * with its own send. Used for acks (consumer.ts), RPC requests and RPC replies
 * (rpc.ts).
 */
export interface BatcherOptions {
  /** Most items per send. */
  readonly max: number
  /**
   * When an idle batcher sends: "turn" waits for the end of this turn of the
   * event loop (setImmediate: collects what the turn's other callbacks add),
   * "now" right after the current synchronous code (no added latency).
   */
  readonly start: "turn" | "now"
}

interface Queued<T, R> {
  readonly item: T
  readonly resolve: (result: R) => void
  readonly reject: (e: unknown) => void
}

export class Batcher<T, R = unknown> {
  private readonly send: (items: ReadonlyArray<T>) => Promise<R>
  private readonly options: BatcherOptions
  private queue: Array<Queued<T, R>> = []
  private busy = false

  constructor(send: (items: ReadonlyArray<T>) => Promise<R>, options: BatcherOptions) {
    this.send = send
    this.options = options
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      if (this.busy) return
      this.busy = true
      if (this.options.start === "turn") setImmediate(() => void this.flush())
      else queueMicrotask(() => void this.flush())
    })
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.options.max ? this.queue : this.queue.slice(0, this.options.max)
      this.queue = batch === this.queue ? [] : this.queue.slice(this.options.max)
      try {
        const result = await this.send(batch.map((q) => q.item))
        for (const q of batch) q.resolve(result)
      } catch (e) {
        for (const q of batch) q.reject(e)
      }
    }
    this.busy = false
  }
}
