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
import type { Delivery } from "../transport.ts"
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

/** The same delivery, whose settlements first call `free`. */
const freeingSlot = (delivery: Delivery, free: () => void): Delivery => ({
  envelope: delivery.envelope,
  attempt: delivery.attempt,
  redeliveries: delivery.redeliveries,
  firstFailureAt: delivery.firstFailureAt,
  ...(delivery.beginSolo ? { beginSolo: () => delivery.beginSolo!() } : {}),
  ack: () => (free(), delivery.ack()),
  retry: (options) => (free(), delivery.retry(options)),
  release: () => (free(), delivery.release()),
  deadLetter: (failure) => (free(), delivery.deadLetter(failure)),
})

export const makeEngine = (config: EngineConfig): Effect.Effect<Engine> =>
  Effect.sync(() => {
    const permits = new Permits(config.concurrency)
    const gate = new SoloGate()
    const keyed = new KeyedSerializer()
    const running = new Drain()
    let closing = false
    const pipeline: PipelineConfig = { ...config, closing: () => closing }

    // Deliveries already received when close() starts are still handled, not released: a
    // release is a redelivery on most brokers and would count against its redelivery budget for nothing.
    // The concurrency slot is for handlers: it is freed as soon as the settlement is issued, not
    // when the broker confirms it. The delivery stays unsettled in the adapter until then, so
    // prefetch still bounds it, and close() still waits for it (running counts until settled).
    // Holding the slot through the confirm capped a group at `concurrency` round trips at a time.
    // The solo gate is left only once the settlement resolved (../isolation.ts).
    const runOne = async (delivery: Delivery): Promise<void> => {
      await permits.acquire()
      let held = true
      const free = () => {
        if (held) {
          held = false
          permits.release()
        }
      }
      try {
        if (delivery.redeliveries > 0) {
          await gate.enterAlone()
          try {
            await handleDelivery(pipeline, freeingSlot(delivery, free), sleep)
          } finally {
            gate.leaveAlone()
          }
        } else {
          const entering = gate.enter()
          if (entering) await entering
          try {
            await handleDelivery(pipeline, freeingSlot(delivery, free), async (ms) => {
              gate.leave()
              await sleep(ms)
              await gate.enter()
            })
          } finally {
            gate.leave()
          }
        }
      } finally {
        free()
      }
    }

    const onDelivery = (delivery: Delivery): void => {
      const task = () => runOne(delivery)
      void running.track(config.ordered && delivery.envelope.key !== undefined ? keyed.run(delivery.envelope.key, task) : task())
    }

    const drain = Effect.suspend(() => {
      closing = true
      return Effect.promise(() => running.done())
    })

    return { onDelivery, drain }
  })
