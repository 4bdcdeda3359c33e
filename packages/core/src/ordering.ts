/**
 * Per-key FIFO with concurrency > 1: tasks with the same key run one after
 * another in arrival order, tasks with different keys run side by side. A
 * task waiting behind its key holds no concurrency permit, so one slow or
 * retrying key never blocks the others (no head-of-line blocking).
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>()

  get activeKeys(): number {
    return this.tails.size
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const next = prev.then(task, task)
    const tail = next.catch(() => undefined)
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return next
  }
}

/**
 * A counting semaphore with a FIFO of waiters, O(1) per acquire and release.
 * (effect's Semaphore rescans its waiter list on every release; with a large
 * prefetch thousands of deliveries wait here, which made that the hottest
 * frame of the consumer in bench/.)
 */
export class Permits {
  private free: number
  private waiters: Array<() => void> = []
  private head = 0

  constructor(size: number) {
    this.free = size
  }

  acquire(): Promise<void> | undefined {
    if (this.free > 0) {
      this.free--
      return undefined
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  /**
   * Calls `run` once a permit is taken: now if one is free, else when one is released (in
   * line with acquire's waiters). No promise: a queued caller costs one callback.
   */
  take(run: () => void): void {
    if (this.free > 0) {
      this.free--
      run()
    } else this.waiters.push(run)
  }

  release(): void {
    if (this.head < this.waiters.length) {
      const next = this.waiters[this.head]!
      this.waiters[this.head++] = undefined as never
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.head)
        this.head = 0
      }
      next()
    } else this.free++
  }
}
