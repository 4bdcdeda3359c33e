/**
 * Coalesces calls: the items added in one turn (and, with inFlight "one",
 * those added while a send is on the way) go out together as one send, instead
 * of one round trip and one script run per item. The items of one send share
 * its promise (one promise per send, not one per item: acks pass here once per
 * message). Used for acks (consumer.ts), RPC requests and RPC replies (rpc.ts).
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
  /**
   * "one": items wait while a send is on the way, and go out together when it
   * returned (RPC frames: fewer, larger calls). "many": what was added goes out
   * when the turn ends, whether earlier sends returned or not (acks: a consumer
   * frees a prefetch slot only once its ack returned, so waiting for the ack
   * before held every message handled meanwhile unsettled for a round trip).
   */
  readonly inFlight: "one" | "many"
}

/** The items of one coming send and the promise they share. */
class Pending<T, R> {
  readonly items: Array<T> = []
  resolve!: (result: R) => void
  reject!: (e: unknown) => void
  readonly sent = new Promise<R>((resolve, reject) => {
    this.resolve = resolve
    this.reject = reject
  })
}

export class Batcher<T, R = unknown> {
  private readonly send: (items: ReadonlyArray<T>) => Promise<R>
  private readonly options: BatcherOptions
  /** Sends not yet on the way, oldest first; each holds at most `max` items. */
  private queue: Array<Pending<T, R>> = []
  private busy = false

  constructor(send: (items: ReadonlyArray<T>) => Promise<R>, options: BatcherOptions) {
    this.send = send
    this.options = options
  }

  /** Settles with the send that carries the item. */
  add(item: T): Promise<R> {
    let last = this.queue[this.queue.length - 1]
    if (last === undefined || last.items.length >= this.options.max) this.queue.push((last = new Pending<T, R>()))
    last.items.push(item)
    if (!this.busy) {
      this.busy = true
      if (this.options.start === "turn") setImmediate(() => void this.flush())
      else queueMicrotask(() => void this.flush())
    }
    return last.sent
  }

  private async flush(): Promise<void> {
    if (this.options.inFlight === "many") {
      const queue = this.queue
      this.queue = []
      this.busy = false
      for (const next of queue) this.send(next.items).then(next.resolve, next.reject)
      return
    }
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      try {
        next.resolve(await this.send(next.items))
      } catch (e) {
        next.reject(e)
      }
    }
    this.busy = false
  }
}
