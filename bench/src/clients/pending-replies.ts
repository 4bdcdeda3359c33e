/**
 * The raw contenders' RPC bookkeeping, as a careful user writes it: each
 * request waits for its reply by correlation id, with its own timeout, like
 * Omnibus's requests (a reply or a timeout error, never a wait forever).
 * Used by the amqplib, ioredis and kafkajs contenders; nats.js and Moleculer
 * are given the same timeout in their own request calls.
 */
export const RPC_TIMEOUT_MS = 30_000

interface Waiting {
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
  readonly timer: ReturnType<typeof setTimeout>
}

export class PendingReplies {
  private readonly waiting = new Map<string, Waiting>()
  private next = 0

  /** A new correlation id, handed to `send` (which puts the request on the wire), and the wait for its reply. */
  request(send: (id: string) => unknown): Promise<void> {
    const id = String(this.next++)
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`request ${id}: no reply within ${RPC_TIMEOUT_MS} ms`))
      }, RPC_TIMEOUT_MS)
      this.waiting.set(id, { resolve, reject, timer })
      try {
        const sent = send(id)
        if (sent instanceof Promise) sent.catch((e: unknown) => this.refuse(id, e))
      } catch (e) {
        this.refuse(id, e)
      }
    })
  }

  /** The reply to `id` arrived; one for a request no longer waiting is dropped. */
  reply(id: string): void {
    this.take(id)?.resolve()
  }

  /** The request `id` cannot be answered (e.g. the broker returned it: no server). */
  refuse(id: string, e: unknown): void {
    this.take(id)?.reject(e)
  }

  /** The request `id` stops waiting (its timer cleared); undefined if it no longer waited. */
  private take(id: string): Waiting | undefined {
    const w = this.waiting.get(id)
    if (w === undefined) return undefined
    this.waiting.delete(id)
    clearTimeout(w.timer)
    return w
  }
}
