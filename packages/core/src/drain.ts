/**
 * Work in flight that a close must wait for: a counter and the waiters for it
 * to reach zero. One helper for the consumer engine, the RPC server and the
 * publisher, so "stop taking work, then wait for what runs" is written once.
 */
export class Drain {
  private running = 0
  private idle: Array<() => void> = []

  get size(): number {
    return this.running
  }

  enter(): void {
    this.running++
  }

  leave(): void {
    if (--this.running === 0) {
      const waiters = this.idle
      this.idle = []
      for (const w of waiters) w()
    }
  }

  /** Counts `work` until it settles (either way). */
  track<A>(work: Promise<A>): Promise<A> {
    this.enter()
    return work.finally(() => this.leave())
  }

  /** Resolves once nothing runs (at once if nothing does). */
  done(): Promise<void> {
    if (this.running === 0) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }
}
