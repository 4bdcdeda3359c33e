/**
 * Only the culprit pays for a crash. When a consumer process dies, the broker
 * sends back everything it held unsettled: the message that killed it, the
 * ones in other handlers beside it, the ones whose acks had not left the
 * process, and the ones buffered by prefetch that never reached a handler.
 * The broker cannot tell them apart, so its redelivery count charges them all.
 *
 * The engine therefore treats every redelivered message as a suspect and runs
 * suspects alone: a suspect enters only when no other handler runs and every
 * earlier settlement has been sent, and nothing else starts until it has
 * settled. Right before its handler the adapter durably records the solo run
 * (`Delivery.beginSolo`); a crash during it can only be this message's doing.
 * The poison budget counts those solo runs, not the broker's redeliveries.
 * Normal (first) deliveries pay one counter increment and decrement here.
 */

/** A writer-preferring gate: many normal handlers side by side, or one suspect alone. */
export class SoloGate {
  private inside = 0
  private solo = false
  private readonly suspects: Array<() => void> = []
  private waiting: Array<() => void> = []

  /** Enter as a normal handler; waits while a suspect runs or waits to run. */
  enter(): Promise<void> | undefined {
    if (!this.solo && this.suspects.length === 0) {
      this.inside++
      return undefined
    }
    return new Promise<void>((resolve) =>
      this.waiting.push(() => {
        this.inside++
        resolve()
      }),
    )
  }

  /** Leave as a normal handler, after its settlement resolved. */
  leave(): void {
    this.inside--
    this.pump()
  }

  /** Enter alone: once every handler inside has left and its settlement is out. */
  enterAlone(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.suspects.push(resolve)
      this.pump()
    })
  }

  leaveAlone(): void {
    this.solo = false
    this.pump()
  }

  private pump(): void {
    if (this.solo) return
    if (this.suspects.length > 0) {
      if (this.inside > 0) return
      this.solo = true
      const next = this.suspects.shift()!
      // One macrotask later: acks that adapters batch or cork to the end of the
      // current turn (Redis XACK, AMQP socket writes) are written before it starts.
      setImmediate(next)
      return
    }
    // every normal handler leaves through here: no allocation unless someone waits
    if (this.waiting.length === 0) return
    const waiting = this.waiting
    this.waiting = []
    for (const w of waiting) w()
  }
}

/**
 * How many crashes a suspect may have caused before it is poison. `maxRedeliveries`
 * counts them; 0 behaves as 1 because a message must run alone once before a crash
 * can be pinned on it (otherwise every message sent back with it would pay).
 */
export const soloBudget = (maxRedeliveries: number): number => Math.max(1, maxRedeliveries)
