/**
 * The records of the partitions a member owns, from fetch to commit. Shared
 * by event groups, their retry consumers, RPC servers and reply readers.
 *
 * - Records are handed out as they arrive, while others are unsettled; the
 *   consumption's prefetch slots bound them. A partition is fetched one
 *   response ahead: not again while a fetched response still waits (paused).
 * - Commits only the contiguous settled prefix of each partition, in offset
 *   order (one commit in flight per partition, coalesced), so a crash never
 *   skips an unhandled record.
 * - revoke() (before every rejoin and before leaving): hands out nothing
 *   more, waits for every handed-out record to settle, commits, and only then
 *   lets the member rejoin, so no record is in a handler here while another
 *   member reads its partition.
 * - Crash redelivery count, by a grant: the committed offset is re-committed
 *   with metadata "h=<last granted offset>;k=<times handed>" that runs
 *   GRANT_AHEAD records ahead of the hand-out, past the records that exist,
 *   and is renewed in the background before the hand-out reaches it; a
 *   hand-out waits for a commit only when it caught up with the grant (the
 *   first records of a generation, a burst larger than the grant). Whoever
 *   reads offsets up to h again reports k redeliveries (too high for records
 *   granted but never handed, never too low), so they run alone once
 *   (packages/core/src/isolation.ts) before the partition runs in parallel
 *   again. The cost of the grant is those suspects, see GRANT_AHEAD.
 * - Solo runs (Delivery.beginSolo, packages/core/src/isolation.ts): the metadata
 *   also carries ";s=<offset>:<runs>,…" for records that ran alone in a handler
 *   and have not settled; the mark is committed before the handler starts.
 */
import { DeliveryLost } from "@omnibus/core/adapter"
import type { InRecord } from "./client.ts"
import type { Assigned, Member, MemberHandler } from "./group-consumer.ts"
import { newRunState, sleep, wakeAll, type RunState } from "./batch.ts"

/**
 * How far ahead of the hand-out the grant goes (at least; a prefetch window if larger); renewed
 * once the hand-out is within this of its end, so it reaches up to twice this far.
 *
 * Why ahead of the fetched records: an announcement that covered only fetched records made every
 * hand-out of new records wait for an OffsetCommit, and Kafka 4's group coordinator holds each
 * commit up to group.coordinator.append.linger.ms (5 ms by default, ~27 ms per commit on a loaded
 * machine): bench latency p50 71-87 ms on a warm stock broker, 3.4-3.8 ms with the grant
 * (bench/FINDINGS.md, "Kafka on a stock broker"). A window ahead was one commit round trip per
 * 100-200 records at prefetch 100 (backlog drain 7k msg/s).
 *
 * The cost, after a crash (graceful hand-overs clear the grant in revoke()): up to
 * 2 × GRANT_AHEAD + the prefetch records past the last settled one per partition come back as
 * suspects, including records published after the crash that nobody ever handed out. Each suspect
 * runs alone once, with one commit before its handler (beginSolo), so recovery of a busy partition
 * is slower by that many solo runs (a few ms each; ~30 ms each with the 5 ms linger on a loaded
 * machine). A suspect only runs alone: it is dead-lettered only after crashes during its own solo
 * runs, so the grant never turns healthy records into poison. The count k it reports is one too
 * high for those never handed out (Message.redeliveries), as the announcement's already was.
 *
 * Rolling upgrades: the metadata keeps the announcement's format, so adapters from before the
 * grant read a grant as an announcement (records up to h redelivered k times, run alone once) and
 * this one reads theirs the same way; a member of either kind may take over from the other.
 */
const GRANT_AHEAD = 1_000

interface HandedMeta {
  readonly h: bigint
  readonly k: number
}

const parseMeta = (m: string | null | undefined): HandedMeta | undefined => {
  const r = m ? /^h=(\d+);k=(\d+)(?:;|$)/.exec(m) : null
  return r ? { h: BigInt(r[1]!), k: Number(r[2]) } : undefined
}

/** offset -> runs alone without an outcome, from ";s=o:n,o:n" in the metadata. */
const parseSolo = (m: string | null | undefined): Map<bigint, number> => {
  const marks = new Map<bigint, number>()
  const r = m ? /(?:^|;)s=([\d:,]+)/.exec(m) : null
  for (const pair of r ? r[1]!.split(",") : []) {
    const [o, n] = pair.split(":")
    if (o && n) marks.set(BigInt(o), Number(n))
  }
  return marks
}

export interface RunnerOptions {
  /** The consumption: stop/abort. */
  readonly state: RunState
  readonly heartbeatMs: number
  /** Deliver at this time (ms since epoch), or now if undefined. Records with a due time wait side by side. */
  readonly dueAt?: (record: InRecord) => number | undefined
  /**
   * The prefetch: the grant (GRANT_AHEAD) reaches at least this far past the
   * records holding a slot.
   */
  readonly window: number
  /** Not for this consumer: settled at once, never handed out (default: every record is). */
  readonly accepts?: (record: InRecord, from: { readonly topic: string; readonly partition: number }) => boolean
  /** Waits for a prefetch slot; false once `cancel` (revoke/stop) is stopped. */
  readonly acquire: (cancel: RunState) => Promise<boolean>
  /** A prefetch slot if one is free now. */
  readonly tryAcquire: () => boolean
  /** Gives back a slot acquired for a record that is then not handed out. */
  readonly releaseSlot: () => void
  /** Hands a record out (a slot is held for it); `settle` is called once it is done. */
  readonly deliver: (record: InRecord, extraAttempts: number, settle: Settle, from: HandedFrom, beginSolo: () => Promise<number>) => void
}

/** The partition a record was handed from; `dead` once this member lost it (its next owner reads what is uncommitted). */
export interface HandedFrom {
  readonly topic: string
  readonly partition: number
  readonly dead: boolean
}

/**
 * Ends a handed-out record. "done": its outcome reached the broker, commits may pass it.
 * "abandoned": it could not be settled (its retry or dead-letter move failed) and the
 * consumption is ending: revoke() no longer waits for it, and as it stays unsettled no commit
 * passes it, so the partition's next owner reads it again.
 */
export type Settle = (how?: "done" | "abandoned") => void

interface Entry {
  readonly offset: bigint
  settled: boolean
}

interface PState {
  readonly topic: string
  readonly partition: number
  /** What the previous owner granted (or announced), from the committed metadata. */
  readonly prev: HandedMeta | undefined
  /** This member's grant: records up to h may be handed out once it is committed. */
  granted: HandedMeta | undefined
  /** Runs alone without an outcome per unsettled offset, committed with the metadata. */
  readonly solo: Map<bigint, number>
  /** Highest offset whose grant is committed. */
  durableH: bigint
  pendingGrant: { readonly h: bigint; readonly done: Promise<void> } | undefined
  metaText: string
  committed: bigint
  /** Offset after the last record taken from the queue. */
  takenTo: bigint
  /** Offset after the highest record handed out (retry records go out by due time, not in order). */
  handedTo: bigint
  readonly entries: Array<Entry>
  queue: Array<InRecord>
  busy: boolean
  outstanding: number
  dirty: boolean
  chain: Promise<void>
  dead: boolean
}

/** The metadata with the solo marks of records not committed past yet. */
const withSolo = (meta: string, solo: ReadonlyMap<bigint, number>, committedTo: bigint): string => {
  if (solo.size === 0) return meta // every commit passes here; marks exist only after a crash
  const marks = [...solo].filter(([o]) => o >= committedTo).map(([o, n]) => `${o}:${n}`)
  if (marks.length === 0) return meta
  return `${meta}${meta === "" ? "" : ";"}s=${marks.join(",")}`
}

export class PartitionRunner implements MemberHandler {
  private readonly options: RunnerOptions
  private member: Member | undefined
  private gen: RunState = newRunState()
  private readonly parts = new Map<string, PState>()
  private readonly changed = new EventTarget()

  constructor(options: RunnerOptions) {
    this.options = options
    const onWake = () => {
      if (options.state.stopped || options.state.aborted) {
        this.gen.stopped = true
        this.gen.aborted = options.state.aborted
        wakeAll(this.gen)
        this.notify()
      }
    }
    options.state.wake.addEventListener("wake", onWake)
  }

  attach(member: Member): void {
    this.member = member
  }

  private notify(): void {
    this.changed.dispatchEvent(new Event("c"))
  }

  assigned(partitions: ReadonlyArray<Assigned>): void {
    this.gen = newRunState()
    if (this.options.state.stopped || this.options.state.aborted) this.gen.stopped = true
    this.parts.clear()
    for (const p of partitions) {
      this.parts.set(`${p.topic}|${p.partition}`, {
        topic: p.topic,
        partition: p.partition,
        prev: parseMeta(p.metadata),
        granted: undefined,
        solo: parseSolo(p.metadata),
        durableH: -1n,
        pendingGrant: undefined,
        metaText: p.metadata ?? "",
        committed: p.offset,
        takenTo: p.offset,
        handedTo: p.offset,
        entries: [],
        queue: [],
        busy: false,
        outstanding: 0,
        dirty: false,
        chain: Promise.resolve(),
        dead: false,
      })
    }
  }

  /**
   * One response ahead: the next fetch may go while the current chunk is being handed out
   * (busy), not while a fetched one still waits in the queue. Waiting for the chunk too made
   * each partition alternate fetch and drain (backlog drain 20-42k msg/s against 48-51k, bench
   * memory workload, same session); a partition holds at most two responses (2 MiB at the fetch bound).
   */
  paused(topic: string, partition: number): boolean {
    const st = this.parts.get(`${topic}|${partition}`)
    return st === undefined || st.queue.length > 0 || st.dead || this.gen.stopped
  }

  records(topic: string, partition: number, records: ReadonlyArray<InRecord>): void {
    const st = this.parts.get(`${topic}|${partition}`)
    if (!st || st.dead || this.gen.stopped) return
    for (const r of records) if (BigInt(r.offset) >= st.takenTo) st.queue.push(r)
    void this.pump(st, this.gen)
  }

  /** Commits (st.committed target, metaText) once more after everything queued before; coalesced. */
  private flush(st: PState): Promise<void> {
    st.dirty = true
    st.chain = st.chain.then(async () => {
      if (!st.dirty || st.dead || this.options.state.aborted) return
      st.dirty = false
      const to = st.entries.length > 0 ? st.entries[0]!.offset : st.takenTo
      try {
        await this.member!.commit(st.topic, st.partition, to, withSolo(st.metaText, st.solo, to))
        st.committed = to
      } catch {
        st.dead = true // not a member of this generation any more: the next owner reads the rest
      }
      this.notify()
    })
    return st.chain
  }

  private extra(st: PState, offset: bigint): number {
    return st.prev !== undefined && offset <= st.prev.h ? st.prev.k : 0
  }

  private async pump(st: PState, gen: RunState): Promise<void> {
    if (st.busy) return
    st.busy = true
    try {
      while (st.queue.length > 0 && !gen.stopped && !st.dead) {
        const chunk = st.queue
        st.queue = []
        this.member?.wake() // the partition may be fetched again (one ahead) while this chunk is handed out
        const last = BigInt(chunk[chunk.length - 1]!.offset)
        const entries = chunk.map((r) => ({ offset: BigInt(r.offset), settled: false }))
        st.entries.push(...entries)
        st.takenTo = last + 1n
        if (this.options.dueAt === undefined) await this.handInOrder(st, gen, chunk, entries)
        else await this.handWhenDue(st, gen, chunk, entries, this.options.dueAt)
      }
    } finally {
      st.busy = false
      if (gen.stopped) st.queue = []
      this.notify()
      this.member?.wake()
    }
  }

  /**
   * Grants (commits with metadata) the hand-out of records up to `upTo`, whether they exist
   * yet or not: a crash then counts them as handed once more (GRANT_AHEAD).
   */
  private grant(st: PState, upTo: bigint): Promise<void> {
    if (st.pendingGrant !== undefined && st.pendingGrant.h >= upTo) return st.pendingGrant.done
    if (upTo <= st.durableH) return Promise.resolve()
    const prev = st.prev
    // Records the previous owner handed stay counted once more until all of them are settled
    // (committed past); records after them were handed by nobody before.
    const k = prev !== undefined && st.committed <= prev.h ? prev.k + 1 : 1
    const h = prev !== undefined && prev.h > upTo ? prev.h : upTo
    st.granted = { h, k }
    st.metaText = `h=${h};k=${k}`
    const done = this.flush(st).then(() => {
      if (!st.dead && h > st.durableH) st.durableH = h
    })
    st.pendingGrant = { h, done }
    return done
  }

  /** Waits for a grant that covers `offset` if there is none yet; renews it in the background once the hand-out gets near its end. */
  private async granted(st: PState, offset: bigint): Promise<void> {
    const ahead = BigInt(Math.max(this.options.window, GRANT_AHEAD))
    if (offset > st.durableH) await this.grant(st, offset + ahead)
    if (st.granted !== undefined && st.granted.h - offset < ahead) void this.grant(st, offset + 2n * ahead)
  }

  /** Commits one more solo run of the record before its handler starts; resolves with the earlier ones. */
  private async beginSolo(st: PState, entry: Entry): Promise<number> {
    const before = st.solo.get(entry.offset) ?? 0
    st.solo.set(entry.offset, before + 1)
    await this.flush(st)
    if (st.dead) throw new DeliveryLost(`the solo run of offset ${entry.offset} was not committed: partition ${st.topic}/${st.partition} revoked`)
    return before
  }

  private settler(st: PState, entry: Entry): Settle {
    let once = false
    st.outstanding++
    return (how = "done") => {
      if (once) return
      once = true
      st.outstanding--
      if (how === "done") {
        st.solo.delete(entry.offset)
        entry.settled = true
        while (st.entries.length > 0 && st.entries[0]!.settled) st.entries.shift()
        void this.flush(st)
      }
      this.notify()
    }
  }

  private hand(st: PState, rec: InRecord, entry: Entry): void {
    if (entry.offset + 1n > st.handedTo) st.handedTo = entry.offset + 1n
    this.options.deliver(rec, this.extra(st, entry.offset), this.settler(st, entry), st, () => this.beginSolo(st, entry))
  }

  private skip(st: PState, entry: Entry): void {
    this.settler(st, entry)()
  }

  /** Records in offset order: wait for a slot, take every further slot free right now, check the grant, hand out. */
  private async handInOrder(st: PState, gen: RunState, chunk: ReadonlyArray<InRecord>, entries: ReadonlyArray<Entry>): Promise<void> {
    const accepts = this.options.accepts
    let i = 0
    while (i < chunk.length && !gen.stopped && !st.dead) {
      if (accepts !== undefined && !accepts(chunk[i]!, st)) {
        this.skip(st, entries[i]!)
        i++
        continue
      }
      if (!(await this.options.acquire(gen))) return
      if (gen.stopped || st.dead) {
        this.options.releaseSlot()
        return
      }
      // This record holds a slot; so do the next wanted ones that get a slot at once.
      const run: Array<number> = [i]
      let j = i + 1
      while (j < chunk.length) {
        if (accepts !== undefined && !accepts(chunk[j]!, st)) {
          j++
          continue
        }
        if (!this.options.tryAcquire()) break
        run.push(j)
        j++
      }
      await this.granted(st, entries[run[run.length - 1]!]!.offset)
      if (gen.stopped || st.dead) {
        for (const _ of run) this.options.releaseSlot()
        return
      }
      for (let x = i; x < j; x++) {
        if (run.includes(x)) this.hand(st, chunk[x]!, entries[x]!)
        else this.skip(st, entries[x]!)
      }
      i = j
    }
  }

  /** Retry records: each waits for its own due time, then for a slot. */
  private async handWhenDue(st: PState, gen: RunState, chunk: ReadonlyArray<InRecord>, entries: ReadonlyArray<Entry>, due: (r: InRecord) => number | undefined): Promise<void> {
    await Promise.all(
      chunk.map(async (rec, i) => {
        const entry = entries[i]!
        if (this.options.accepts !== undefined && !this.options.accepts(rec, st)) {
          this.skip(st, entry)
          return
        }
        const at = due(rec)
        if (at !== undefined) await sleep(at - Date.now(), gen)
        if (gen.stopped || st.dead || !(await this.options.acquire(gen))) return
        if (gen.stopped || st.dead) {
          this.options.releaseSlot()
          return
        }
        await this.granted(st, entry.offset)
        if (gen.stopped || st.dead) {
          this.options.releaseSlot()
          return
        }
        this.hand(st, rec, entry)
      }),
    )
  }

  async revoke(): Promise<void> {
    const gen = this.gen
    gen.stopped = true
    wakeAll(gen)
    const parts = [...this.parts.values()]
    for (const st of parts) st.queue = []
    const settled = () => parts.every((st) => st.outstanding === 0 && !st.busy)
    let lastBeat = Date.now()
    while (!settled() && !this.options.state.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t)
          this.changed.removeEventListener("c", done)
          this.options.state.wake.removeEventListener("wake", done)
          resolve()
        }
        const t = setTimeout(done, this.options.heartbeatMs)
        this.changed.addEventListener("c", done)
        this.options.state.wake.addEventListener("wake", done)
      })
      // The client does not heartbeat while it rejoins; the broker keeps a member that does.
      if (!settled() && Date.now() - lastBeat >= this.options.heartbeatMs) {
        lastBeat = Date.now()
        await this.member?.heartbeat().catch(() => undefined)
      }
    }
    if (!this.options.state.aborted) {
      for (const st of parts) {
        // Everything handed out is settled and committed past: the grant ran ahead over records
        // never handed, which must not count as a redelivery for the next owner. Only what an
        // earlier owner handed (prev) still does.
        const to = st.entries.length > 0 ? st.entries[0]!.offset : st.takenTo
        if (to >= st.handedTo) st.metaText = st.prev !== undefined && st.prev.h >= to ? `h=${st.prev.h};k=${st.prev.k}` : ""
      }
      await Promise.all(parts.map((st) => this.flush(st)))
    }
    this.parts.clear()
  }
}
