/**
 * For adapter tests below the Bus, at the Transport port: collects the
 * deliveries a consumption hands over (with their arrival times) and waits
 * for conditions on them with a deadline.
 */
import type { Delivery } from "@omnibus/core/adapter"

export class Inbox {
  readonly deliveries: Array<Delivery> = []
  readonly times: Array<number> = []
  private readonly waiters = new Set<() => void>()

  /** Pass as the consumption's onDelivery. */
  readonly push = (d: Delivery): void => {
    this.deliveries.push(d)
    this.times.push(Date.now())
    for (const w of [...this.waiters]) w()
  }

  /** Resolves once `ok()` holds, checked at every delivery; rejects after `timeoutMs`. */
  until(ok: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
    return new Promise((resolve, reject) => {
      if (ok()) return resolve()
      const check = () => {
        if (!ok()) return
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (have ${this.deliveries.length})`))
      }, timeoutMs)
      this.waiters.add(check)
    })
  }

  count(n: number, timeoutMs?: number): Promise<void> {
    return this.until(() => this.deliveries.length >= n, timeoutMs, `${n} deliveries`)
  }
}
