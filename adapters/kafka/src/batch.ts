/**
 * Run state (stop/abort wake-ups) and the prefetch slots of a consumption.
 * The partition handling itself is in partitions.ts.
 */
import { setMaxListeners } from "node:events"

export interface RunState {
  stopped: boolean
  aborted: boolean
  /** Wakes every waiting batch (stop/abort). */
  readonly wake: EventTarget
}

export const newRunState = (): RunState => {
  const wake = new EventTarget()
  // One listener per record waiting for a slot or for its retry's due time (bounded by what was
  // fetched, removed when it is handed out): many is normal here, not a leak warning.
  setMaxListeners(0, wake)
  return { stopped: false, aborted: false, wake }
}
export const wakeAll = (s: RunState): void => {
  s.wake.dispatchEvent(new Event("wake"))
}

/** Waits `ms`, or less when `cancel` is stopped or aborted meanwhile. */
export const sleep = (ms: number, cancel: RunState): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(t)
      cancel.wake.removeEventListener("wake", done)
      resolve()
    }
    const t = setTimeout(done, Math.max(0, ms))
    cancel.wake.addEventListener("wake", done)
  })

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
  /** A slot now, or false (never waits). */
  tryAcquire(): boolean {
    if (this.free > 0) {
      this.free--
      return true
    }
    return false
  }
  release(): void {
    const next = this.waiters.shift()
    if (next) next()
    else this.free++
  }
}
