/**
 * The consumer engine: when each delivery may run, written once for every
 * adapter. What happens to one delivery is the pipeline in ./handle.ts; here
 * are the limits around it: per-key order (ordered subscriptions), the
 * `concurrency` permits, the solo gate for redelivered messages
 * (../isolation.ts), and the drain that close() waits for.
 */
import * as Effect from "effect/Effect"
import { Drain } from "../drain.ts"
import { SoloGate } from "../isolation.ts"
import { KeyedSerializer, Permits } from "../ordering.ts"
import type { Delivery, FailureMetadata } from "../transport.ts"
import { handleDelivery, type PipelineConfig } from "./handle.ts"

export interface EngineConfig extends Omit<PipelineConfig, "closing"> {
  readonly concurrency: number
}

export interface Engine {
  readonly onDelivery: (delivery: Delivery) => void
  /** Called after the transport stopped delivering: handles what was received, then resolves. */
  readonly drain: Effect.Effect<void>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A delivery's concurrency permit, given back once. Apart from the delivery, so what waits for a failure holds the permit and not the message. */
class Held {
  private readonly permits: Permits
  private held = true

  constructor(permits: Permits) {
    this.permits = permits
  }

  /** Gives the permit back; later calls do nothing. */
  free(): void {
    if (this.held) {
      this.held = false
      this.permits.release()
    }
  }
}

/**
 * The same delivery, whose settlements first free its concurrency permit (once). A class, so
 * a delivery costs one object here and not an object with a closure per method.
 */
class Slotted implements Delivery {
  readonly envelope: Delivery["envelope"]
  readonly attempt: number
  readonly redeliveries: number
  readonly firstFailureAt: number | undefined
  readonly permit: Held
  protected readonly inner: Delivery

  constructor(inner: Delivery, permits: Permits) {
    this.inner = inner
    this.permit = new Held(permits)
    this.envelope = inner.envelope
    this.attempt = inner.attempt
    this.redeliveries = inner.redeliveries
    this.firstFailureAt = inner.firstFailureAt
  }

  free(): void {
    this.permit.free()
  }

  ack(): Promise<void> {
    this.free()
    return this.inner.ack()
  }

  retry(options: { readonly delayMs: number; readonly firstFailureAt: number }): Promise<void> {
    this.free()
    return this.inner.retry(options)
  }

  release(): Promise<void> {
    this.free()
    return this.inner.release()
  }

  deadLetter(failure: FailureMetadata): Promise<void> {
    this.free()
    return this.inner.deadLetter(failure)
  }
}

/** For an adapter's delivery that has `beginSolo` (it stays absent on the others). */
class SlottedSolo extends Slotted {
  beginSolo(): Promise<number> {
    return this.inner.beginSolo!()
  }
}

export const makeEngine = (config: EngineConfig): Effect.Effect<Engine> =>
  Effect.sync(() => {
    const permits = new Permits(config.concurrency)
    const gate = new SoloGate()
    const keyed = new KeyedSerializer()
    const running = new Drain()
    let closing = false
    const pipeline: PipelineConfig = { ...config, closing: () => closing }

    // Sleeps between in-place retries of a normal delivery, outside the solo gate.
    const waitOutsideGate = async (ms: number): Promise<void> => {
      gate.leave()
      await sleep(ms)
      await gate.enter()
    }

    // Deliveries already received when close() starts are still handled, not released: a
    // release is a redelivery on most brokers and would count against its redelivery budget for nothing.
    // The concurrency slot is for handlers: it is freed as soon as the settlement is issued, not
    // when the broker confirms it. The delivery stays unsettled in the adapter until then, so
    // prefetch still bounds it, and close() still waits for it (running counts until settled).
    // Holding the slot through the confirm capped a group at `concurrency` round trips at a time.
    // The solo gate is left only once the settlement resolved (../isolation.ts).
    // Promise chains rather than async functions on the path of every first delivery: a
    // suspended async call keeps a frame and its registers per delivery (bench/FINDINGS.md).
    const leaveGate = (): void => gate.leave()
    const leaveGateAndRethrow = (e: unknown): never => {
      gate.leave()
      throw e
    }
    const runNormal = (slotted: Slotted): Promise<void> => handleDelivery(pipeline, slotted, waitOutsideGate).then(leaveGate, leaveGateAndRethrow)

    /** A suspect (redelivered) runs alone in the gate (../isolation.ts). */
    const handleSuspect = async (slotted: Slotted): Promise<void> => {
      await gate.enterAlone()
      try {
        await handleDelivery(pipeline, slotted, sleep)
      } finally {
        gate.leaveAlone()
      }
    }

    const slot = (delivery: Delivery): Slotted => (delivery.beginSolo ? new SlottedSolo(delivery, permits) : new Slotted(delivery, permits))

    /** Every settlement frees the permit as it is issued; this frees it when the pipeline failed before one. */
    const freeAndRethrow = (slotted: Slotted) => (e: unknown): never => {
      slotted.free()
      throw e
    }

    /** Runs a normal (first) delivery once the gate lets it in: now, unless a suspect runs or waits. */
    const inGate = (slotted: Slotted, run: (slotted: Slotted) => Promise<void>): Promise<void> => {
      const entering = gate.enter()
      return entering ? entering.then(() => run(slotted)) : run(slotted)
    }

    const handleHeld = (delivery: Delivery): Promise<void> => {
      const slotted = slot(delivery)
      const handled = delivery.redeliveries > 0 ? handleSuspect(slotted) : inGate(slotted, runNormal)
      return handled.then(undefined, freeAndRethrow(slotted))
    }

    /** Ordered by key: the key's turn first, then a permit (a task waiting for its key holds none). */
    const runKeyed = async (delivery: Delivery): Promise<void> => {
      await permits.acquire()
      await handleHeld(delivery)
    }

    /** Unordered, once it holds a permit; `running` was entered when the delivery came. */
    const leave = (): void => running.leave()
    const leaveAndRethrow = (e: unknown): never => {
      running.leave()
      throw e
    }
    // The common case, a first delivery and the gate open, in one link: handle, then leave the
    // gate and `running` (handleHeld's three links, each a promise per message).
    const leaveBoth = (): void => {
      gate.leave()
      running.leave()
    }
    const runFirst = (slotted: Slotted): Promise<void> => {
      // the failure path closes over the permit only: a handled message waiting for its ack holds nothing of the message here
      const permit = slotted.permit
      return handleDelivery(pipeline, slotted, waitOutsideGate).then(leaveBoth, (e: unknown) => {
        permit.free()
        gate.leave()
        return leaveAndRethrow(e)
      })
    }
    const handleThenLeave = (delivery: Delivery): Promise<void> => {
      if (delivery.redeliveries > 0) return handleHeld(delivery).then(leave, leaveAndRethrow)
      return inGate(slot(delivery), runFirst)
    }
    // A turn first: the handler never runs inside the adapter's or a settlement's call. The
    // callback returns nothing, so the turn's promise does not adopt the handling's (two more
    // reactions per message); a failure there still surfaces as an unhandled rejection.
    const startTaken = (delivery: Delivery): void => void handleThenLeave(delivery)
    const runTaken = (delivery: Delivery): void => void Promise.resolve(delivery).then(startTaken)

    // A delivery waiting for a permit waits as a queued callback, not as a suspended call with
    // its promises: with a large prefetch most of a read waits there, long enough for all that
    // to outlive young-generation collections.
    const onDelivery = (delivery: Delivery): void => {
      if (config.ordered && delivery.envelope.key !== undefined) {
        void running.track(keyed.run(delivery.envelope.key, () => runKeyed(delivery)))
        return
      }
      running.enter()
      permits.take(() => runTaken(delivery))
    }

    const drain = Effect.suspend(() => {
      closing = true
      return Effect.promise(() => running.done())
    })

    return { onDelivery, drain }
  })
