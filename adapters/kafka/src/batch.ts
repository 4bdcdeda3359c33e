/**
 * One fetched batch of one partition, from hand-out to commit. Shared by
 * event groups, their retry consumers and RPC servers.
 *
 * - Commits only the contiguous settled prefix, in offset order, so a crash
 *   never skips an unhandled record.
 * - The batch handler returns only when every handed-out record is settled
 *   and committed: kafkajs re-joins the group (rebalance) only after all
 *   batch handlers returned, so a partition is never handed to another member
 *   while one of its records is still in a handler here.
 * - Heartbeats while handlers run (kafkajs only heartbeats between batches).
 * - Crash redelivery count: before handing records out, the committed offset
 *   is re-committed with metadata "h=<last handed offset>;k=<times handed>";
 *   whoever reads those offsets again adds k to the attempt.
 */
import type { BatchContext, InBatch, InRecord } from "./client.ts"

export interface RunState {
  stopped: boolean
  aborted: boolean
  /** Wakes every waiting batch (stop/abort). */
  readonly wake: EventTarget
}

export const newRunState = (): RunState => ({ stopped: false, aborted: false, wake: new EventTarget() })
export const wakeAll = (s: RunState): void => {
  s.wake.dispatchEvent(new Event("wake"))
}

/** Bounds unsettled deliveries of one consumption (spec.prefetch). */
export class Slots {
  private free: number
  private readonly waiters: Array<() => void> = []
  constructor(size: number) {
    this.free = size
  }
  acquire(state: RunState): Promise<boolean> {
    if (state.stopped || state.aborted) return Promise.resolve(false)
    if (this.free > 0) {
      this.free--
      return Promise.resolve(true)
    }
    return new Promise((resolve) => {
      const onWake = () => {
        const i = this.waiters.indexOf(grant)
        if (i >= 0 && (state.stopped || state.aborted)) {
          this.waiters.splice(i, 1)
          resolve(false)
        }
      }
      const grant = () => {
        state.wake.removeEventListener("wake", onWake)
        resolve(true)
      }
      state.wake.addEventListener("wake", onWake)
      this.waiters.push(grant)
    })
  }
  release(): void {
    const next = this.waiters.shift()
    if (next) next()
    else this.free++
  }
}

interface HandedMeta {
  readonly h: bigint
  readonly k: number
}

const parseMeta = (m: string | null | undefined): HandedMeta | undefined => {
  const r = m ? /^h=(\d+);k=(\d+)$/.exec(m) : null
  return r ? { h: BigInt(r[1]!), k: Number(r[2]) } : undefined
}

export interface BatchOptions {
  readonly state: RunState
  readonly heartbeatMs: number
  /** The group's committed offset + metadata for a partition (asked when this member did not write it). */
  readonly committedMeta: (topic: string, partition: number) => Promise<string | null>
  /** Deliver at this time (ms since epoch), or now if undefined. Records with a due time are dispatched side by side. */
  readonly dueAt?: (record: InRecord) => number | undefined
  /**
   * Hands a record out; `settle` is called once it is done. "skipped": not for
   * this consumer (settled at once); "refused": stopping, left for the next owner.
   */
  readonly dispatch: (record: InRecord, extraAttempts: number, settle: () => void, from: { readonly topic: string; readonly partition: number }) => Promise<"handed" | "skipped" | "refused">
}

const sleep = (ms: number, state: RunState): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(t)
      state.wake.removeEventListener("wake", done)
      resolve()
    }
    const t = setTimeout(done, Math.max(0, ms))
    state.wake.addEventListener("wake", done)
  })

/** Per consumer: what this member last wrote, so a partition it keeps owning needs no metadata lookup. */
export class BatchRunner {
  private readonly written = new Map<string, { next: bigint; meta: HandedMeta | undefined }>()
  private readonly options: BatchOptions
  constructor(options: BatchOptions) {
    this.options = options
  }

  async run(batch: InBatch, ctx: BatchContext): Promise<void> {
    const { state } = this.options
    const records = batch.records
    if (records.length === 0 || state.stopped || state.aborted) return
    const pkey = `${batch.topic}|${batch.partition}`
    const first = BigInt(records[0]!.offset)
    const last = BigInt(records[records.length - 1]!.offset)
    const known = this.written.get(pkey)
    const prev = known && known.next === first ? known.meta : parseMeta(await this.options.committedMeta(batch.topic, batch.partition))
    const seenBefore = (o: bigint) => prev !== undefined && o <= prev.h
    const meta: HandedMeta = seenBefore(first) ? { h: last > prev!.h ? last : prev!.h, k: prev!.k + 1 } : { h: last, k: 1 }
    const metaText = `h=${meta.h};k=${meta.k}`
    try {
      await ctx.commit(first, metaText)
    } catch {
      return // lost the partition (rebalance): its new owner reads it
    }
    this.written.set(pkey, { next: first, meta })

    const settled = new Array<boolean>(records.length).fill(false)
    let prefix = 0
    let committedTo = first
    let outstanding = 0
    let commitRunning: Promise<void> | undefined
    const changed = new EventTarget()

    let commitFailed = false
    const target = () => (prefix < records.length ? BigInt(records[prefix]!.offset) : last + 1n)
    const commitLoop = async () => {
      while (target() > committedTo && !state.aborted) {
        const to = target()
        try {
          await ctx.commit(to, metaText)
          committedTo = to
          this.written.set(pkey, { next: to, meta })
        } catch {
          commitFailed = true // not the owner any more: the uncommitted rest is redelivered
          return
        }
      }
    }
    const kickCommit = () => {
      if (commitRunning || commitFailed || target() <= committedTo) return
      commitRunning = commitLoop().finally(() => {
        commitRunning = undefined
        changed.dispatchEvent(new Event("c"))
      })
    }
    const markSettled = (i: number) => {
      if (settled[i]) return
      settled[i] = true
      while (prefix < records.length && settled[prefix]) prefix++
      kickCommit()
      changed.dispatchEvent(new Event("c"))
    }

    const handOne = async (i: number, extra: number): Promise<void> => {
      const rec = records[i]!
      let once = false
      outstanding++
      const r = await this.options.dispatch(rec, extra, () => {
        if (once) return
        once = true
        outstanding--
        markSettled(i)
      }, batch)
      if (r !== "handed" && !once) {
        once = true
        outstanding--
        if (r === "skipped") markSettled(i)
      }
    }

    const due = this.options.dueAt
    if (due === undefined) {
      for (let i = 0; i < records.length; i++) {
        if (state.stopped || state.aborted) break
        await handOne(i, seenBefore(BigInt(records[i]!.offset)) ? prev!.k : 0)
      }
    } else {
      // Retry records: each waits for its own due time, so a long delay does not hold a short one back.
      await Promise.all(
        records.map(async (rec, i) => {
          const at = due(rec)
          if (at !== undefined) await sleep(at - Date.now(), state)
          if (state.stopped || state.aborted) return
          await handOne(i, seenBefore(BigInt(rec.offset)) ? prev!.k : 0)
        }),
      )
    }

    // Wait until everything handed out is settled and committed, heartbeating meanwhile.
    for (;;) {
      if (state.aborted) return
      if (outstanding === 0 && commitRunning === undefined) {
        kickCommit()
        if (commitRunning === undefined) return // all committed (or commit refused)
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t)
          changed.removeEventListener("c", done)
          state.wake.removeEventListener("wake", done)
          resolve()
        }
        const t = setTimeout(done, this.options.heartbeatMs)
        changed.addEventListener("c", done)
        state.wake.addEventListener("wake", done)
      })
      try {
        await ctx.heartbeat()
      } catch {
        // rebalance in progress: finish and commit what we hold first; kafkajs re-joins after we return
      }
    }
  }
}
