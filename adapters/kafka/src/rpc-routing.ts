/**
 * Which partition of a method's RPC topic a request goes to. A partition
 * whose server died answers nothing until the group's session times out and
 * a rebalance hands it to a live server, seconds later. So a partition is
 * left out while it stalls: it has requests waiting and has answered none
 * for STALL_MS, or a request to it was given up (timed out) and no reply
 * from it came since. Among the others the one with the fewest waiting
 * requests is chosen (ties rotate). A reply from a left-out partition, also
 * a late one, brings it back: after the rebalance its new server answers
 * its backlog.
 */

/** No reply this long while requests wait: the partition's server is presumed dead. */
export const STALL_MS = 500
/** A given-up request stops counting against its partition after this without a reply from it. */
const FORGET_MS = 60_000

export class PartitionPicker {
  /** Requests sent and still waiting, per partition. */
  private readonly waiting: Array<number>
  /** Requests given up (timeout, abort) with no reply from the partition since, per partition. */
  private readonly unanswered: Array<number>
  private readonly lastGivenUp: Array<number>
  /** Last sign of life: a reply, or the moment requests started waiting on an idle partition. */
  private readonly progress: Array<number>
  private next = 0

  constructor(partitions: number, now = Date.now()) {
    this.waiting = new Array<number>(partitions).fill(0)
    this.unanswered = new Array<number>(partitions).fill(0)
    this.lastGivenUp = new Array<number>(partitions).fill(0)
    this.progress = new Array<number>(partitions).fill(now)
  }

  private stalled(p: number, now: number): boolean {
    if (this.unanswered[p]! > 0 && now - this.lastGivenUp[p]! > FORGET_MS) this.unanswered[p] = 0
    return this.unanswered[p]! > 0 || (this.waiting[p]! > 0 && now - this.progress[p]! > STALL_MS)
  }

  /** The partition for the next request; counts it as waiting. */
  pick(now = Date.now()): number {
    const n = this.waiting.length
    let best = -1
    // every partition stalls (all servers slow, or none left): the one that answered last
    let fallback = this.next % n
    for (let k = 0; k < n; k++) {
      const p = (this.next + k) % n
      if (this.progress[p]! > this.progress[fallback]!) fallback = p
      if (this.stalled(p, now)) continue
      if (best === -1 || this.waiting[p]! < this.waiting[best]!) best = p
    }
    const chosen = best === -1 ? fallback : best
    this.next = chosen + 1
    if (this.waiting[chosen] === 0) this.progress[chosen] = Math.max(this.progress[chosen]!, now)
    this.waiting[chosen]!++
    return chosen
  }

  /** The request sent to `p` got its reply. */
  answered(p: number, now = Date.now()): void {
    if (this.waiting[p]! > 0) this.waiting[p]!--
    this.served(p, now)
  }

  /** The request sent to `p` was given up without a reply. */
  givenUp(p: number, now = Date.now()): void {
    if (this.waiting[p]! > 0) this.waiting[p]!--
    this.unanswered[p]!++
    this.lastGivenUp[p] = now
  }

  /** A reply came from `p` (also a late one): a live server reads it. */
  served(p: number, now = Date.now()): void {
    if (p < 0 || p >= this.unanswered.length) return
    this.unanswered[p] = 0
    this.progress[p] = now
  }
}
