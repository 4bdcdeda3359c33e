/**
 * Idempotent consumers: a store remembers which message ids a group has
 * handled. A claim is a lease, not a lock forever: if the claiming consumer
 * dies mid-handler, the lease runs out and a redelivery may take over, so a
 * crash never turns into a lost message.
 */
export type ClaimResult = "acquired" | "in-progress" | "done"

/** The key the consumer claims for a delivery: the group and the message id (a store shared by groups keeps them apart). */
export const idempotencyKey = (group: string, messageId: string): string => `${group}:${messageId}`

export interface IdempotencyStore {
  /** Try to start handling `key`; "acquired" means the caller now owns it for `leaseMs`. */
  claim(key: string, leaseMs: number): Promise<ClaimResult>
  /** Mark `key` handled for `ttlMs`. */
  complete(key: string, ttlMs: number): Promise<void>
  /** Give up a claim after a failure so that a retry may claim it again. */
  release(key: string): Promise<void>
}

interface Entry {
  state: "in-progress" | "done"
  expiresAt: number
}

/**
 * In-process store with TTL and a bound on entries: when full, the oldest
 * entries are evicted first (a Map keeps insertion order), in-progress
 * claims included only after every done mark is gone.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>()
  readonly maxEntries: number
  private readonly now: () => number

  constructor(options?: { readonly maxEntries?: number; readonly now?: () => number }) {
    this.maxEntries = options?.maxEntries ?? 100_000
    this.now = options?.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const now = this.now()
    const e = this.entries.get(key)
    if (e && e.expiresAt > now) return Promise.resolve(e.state === "done" ? "done" : "in-progress")
    this.set(key, { state: "in-progress", expiresAt: now + leaseMs })
    return Promise.resolve("acquired")
  }

  complete(key: string, ttlMs: number): Promise<void> {
    this.set(key, { state: "done", expiresAt: this.now() + ttlMs })
    return Promise.resolve()
  }

  release(key: string): Promise<void> {
    const e = this.entries.get(key)
    if (e?.state === "in-progress") this.entries.delete(key)
    return Promise.resolve()
  }

  private set(key: string, entry: Entry): void {
    this.entries.delete(key) // re-insert at the end: newest last
    this.entries.set(key, entry)
    if (this.entries.size <= this.maxEntries) return
    const now = this.now()
    for (const [k, v] of this.entries) {
      if (v.expiresAt <= now) this.entries.delete(k)
    }
    for (const [k] of this.entries) {
      if (this.entries.size <= this.maxEntries) break
      this.entries.delete(k)
    }
  }
}
