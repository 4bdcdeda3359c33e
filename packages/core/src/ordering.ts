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
