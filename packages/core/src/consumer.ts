/**
 * The consumer engine: what happens to a delivery between the broker and the
 * user's handler, written once for every adapter. Decode (failure is
 * permanent), idempotency claim, handler, then exactly one settlement: ack,
 * retry later (through the broker, so it survives restarts and never blocks
 * the group), retry in place (ordered subscriptions keep per-key order), or
 * dead-letter with failure metadata.
 */
import * as Effect from "effect/Effect"
import type { Message } from "./api.ts"
import { byContentType, contentTypeProblem, type Codec } from "./codec.ts"
import { DecodeFailed, PermanentError } from "./errors.ts"
import { idempotencyKey, type IdempotencyStore } from "./idempotency.ts"
import { toMessage } from "./message.ts"
import { SoloGate, soloBudget } from "./isolation.ts"
import { KeyedSerializer, Permits } from "./ordering.ts"
import type { RetryPolicy } from "./retry.ts"
import type { Delivery, FailureMetadata } from "./transport.ts"

export type HandlerEventType = "handled" | "retry" | "dead-letter" | "dropped" | "duplicate" | "released"

/** Emitted after each outcome; `observe` on a subscription receives them (metrics, logs, test spies). */
export interface HandlerEvent {
  readonly type: HandlerEventType
  readonly group: string
  readonly id: string
  readonly routingKey: string
  readonly attempt: number
  readonly error?: unknown
  readonly delayMs?: number
}

export interface EngineConfig {
  readonly group: string
  readonly concurrency: number
  readonly ordered: boolean
  readonly retry: RetryPolicy
  readonly deadLetter: boolean
  readonly idempotency: { readonly store: IdempotencyStore; readonly ttlMs: number; readonly leaseMs: number } | undefined
  readonly codec: Codec<unknown> | undefined
  /** The user's handler as a Promise (Effect handlers are run by the bus); a rejection is a failure. */
  readonly handler: (message: Message<unknown>) => Promise<unknown>
  readonly observe: ((event: HandlerEvent) => void) | undefined
  /** Deliveries bigger than this (written by a non-Omnibus producer) are dead-lettered unread. */
  readonly maxPayloadBytes: number
}

/** Total size (UTF-8 bytes of names and values) of user headers a message may carry. */
export const MAX_HEADER_BYTES = 64 * 1024

export const headersSize = (headers: Readonly<Record<string, string>>): number => {
  let n = 0
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(k) + (typeof v === "string" ? Buffer.byteLength(v) : 0)
  return n
}

export interface Engine {
  readonly onDelivery: (delivery: Delivery) => void
  /** Called after the transport stopped delivering: handles what was received, then resolves. */
  readonly drain: Effect.Effect<void>
}

export const isPermanent = (error: unknown): boolean =>
  error instanceof PermanentError ||
  error instanceof DecodeFailed ||
  (typeof error === "object" && error !== null && ((error as { _tag?: unknown })._tag === "PermanentError" || (error as { permanent?: unknown }).permanent === true))

export const describeError = (error: unknown): { readonly name: string; readonly message: string; readonly code: string | undefined } => {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { name: error.name, message: error.message, code: code === undefined || code === null ? undefined : String(code) }
  }
  return { name: typeof error, message: String(error), code: undefined }
}

const decodeWith = (codec: Codec<unknown> | undefined, delivery: Delivery, maxPayloadBytes: number): unknown => {
  const e = delivery.envelope
  if (e.payload.byteLength > maxPayloadBytes) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `payload of ${e.payload.byteLength} bytes is over the maximum of ${maxPayloadBytes}` })
  }
  const headerBytes = headersSize(e.headers)
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `headers of ${headerBytes} bytes are over the maximum of ${MAX_HEADER_BYTES}` })
  }
  const problem = codec && contentTypeProblem(codec, e.contentType)
  if (codec && problem !== undefined) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `${problem}; subscription expects ${codec.contentType}` })
  }
  try {
    return (codec ?? byContentType(e.contentType)).decode(e.payload)
  } catch (err) {
    if (err instanceof DecodeFailed) throw err
    throw new DecodeFailed({ contentType: e.contentType, reason: err instanceof Error ? err.message : String(err) })
  }
}

/** A warning through Effect's logger, as before; failures only, so off the hot path. */
const warn = (message: string, detail: string): void => {
  Effect.runFork(Effect.logWarning(message, detail))
}

/**
 * Settles a delivery; `then` (the outcome event) runs only when the broker took it.
 * A failed settlement (connection lost) leaves the message unacked on the broker,
 * which redelivers it: that is logged, and no outcome is reported.
 */
const settle = async (what: string, p: () => Promise<void>, then?: () => void): Promise<boolean> => {
  try {
    await p()
  } catch (e) {
    warn(`omnibus: ${what} failed; the broker will redeliver`, describeError(e).message)
    return false
  }
  then?.()
  return true
}

/** Idempotency-store bookkeeping after the outcome: best effort (the lease runs out otherwise). */
const quietly = async (p: () => Promise<unknown>): Promise<void> => {
  try {
    await p()
  } catch {
    /* the lease expires; a later copy is handled again (at-least-once) */
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The dead-letter reason of a poison message: it ran alone in a handler `retry.maxRedeliveries`
 * times (at least once) and each of those runs ended without an outcome, i.e. its consumer keeps
 * crashing (or losing its lease) on it. See ./isolation.ts for why only solo runs count.
 */
export class RedeliveriesExhausted extends Error {
  /** The broker's count: deliveries of this attempt without an outcome, solo or not. */
  readonly redeliveries: number
  /** Runs alone in a handler that ended without an outcome. */
  readonly soloCrashes: number
  constructor(redeliveries: number, soloCrashes: number, max: number) {
    super(
      `crashed its consumer ${soloCrashes} times while running alone (delivered ${redeliveries + 1} times without an outcome); retry.maxRedeliveries is ${max}`,
    )
    this.name = "RedeliveriesExhausted"
    this.redeliveries = redeliveries
    this.soloCrashes = soloCrashes
  }
}

/** The dead-letter reason of a delivery whose attempt number is already past the policy (e.g. the policy was lowered). */
export class AttemptsExhausted extends Error {
  constructor(attempt: number, attempts: number) {
    super(`arrived at attempt ${attempt}, past the ${attempts} attempts of the retry policy`)
    this.name = "AttemptsExhausted"
  }
}

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
  Effect.gen(function* () {
    const permits = new Permits(config.concurrency)
    const gate = new SoloGate()
    const keyed = new KeyedSerializer()
    let closing = false
    let running = 0
    let idle: Array<() => void> = []
    const emit = (delivery: Delivery, type: HandlerEventType, attempt: number, extra?: { error?: unknown; delayMs?: number }) => {
      if (config.observe === undefined) return
      try {
        config.observe({ type, group: config.group, id: delivery.envelope.id, routingKey: delivery.envelope.routingKey, attempt, ...extra })
      } catch (e) {
        // an observer is a spy: its bug must not stop the consumer
        warn("omnibus: observe threw", describeError(e).message)
      }
    }

    const release = (delivery: Delivery) =>
      settle("release", () => delivery.release(), () => emit(delivery, "released", delivery.attempt))

    const deadLetter = (delivery: Delivery, error: unknown, attempt: number, firstFailureAt: number) => {
      const info = describeError(error)
      const failure: FailureMetadata = {
        error: info.message,
        errorName: info.name,
        errorCode: info.code,
        attempts: attempt,
        firstFailureAt,
        lastFailureAt: Date.now(),
        group: config.group,
      }
      return config.deadLetter
        ? settle("dead-letter", () => delivery.deadLetter(failure), () => emit(delivery, "dead-letter", attempt, { error }))
        : settle("ack", () => delivery.ack(), () => emit(delivery, "dropped", attempt, { error }))
    }

    // Waits while another consumer holds the claim: its lease either ends in "done" or runs out.
    const claim = async (store: IdempotencyStore, key: string, leaseMs: number) => {
      const deadline = Date.now() + leaseMs + 1_000
      for (;;) {
        let r: Awaited<ReturnType<IdempotencyStore["claim"]>>
        try {
          r = await store.claim(key, leaseMs)
        } catch (e) {
          // An unreachable store must not lose the message: handle it (at-least-once) and log.
          warn("omnibus: idempotency store failed; handling anyway", describeError(e).message)
          return "acquired" as const
        }
        if (r !== "in-progress" || Date.now() > deadline) return r
        await sleep(50)
      }
    }

    // How many earlier runs alone ended without an outcome: the adapter's durable count, or
    // (adapter without one, or its store unreachable) the broker's, which charges bystanders too.
    const soloCrashes = async (delivery: Delivery): Promise<number> => {
      if (delivery.beginSolo) {
        try {
          return await delivery.beginSolo()
        } catch (e) {
          warn("omnibus: recording a solo run failed; counting broker redeliveries instead", describeError(e).message)
        }
      }
      return delivery.redeliveries - 1
    }

    // Plain async, not an Effect program: this runs once per message and a fiber per
    // delivery cost more than the rest of the engine together (bench/FINDINGS.md).
    // `wait` sleeps between in-place retries (outside the solo gate for a normal delivery).
    const process = async (delivery: Delivery, wait: (ms: number) => Promise<void>): Promise<unknown> => {
      const env = delivery.envelope
      let attempt = delivery.attempt
      let firstFailureAt = delivery.firstFailureAt
      // in-place retries (ordered) start a fresh attempt that has not been redelivered
      let redeliveries = delivery.redeliveries
      // A message that kills its consumer every time must end in the dead letters instead of
      // looping. Crashes have their own budget, apart from attempts, and only a crash while the
      // message ran alone is charged to it (./isolation.ts): a crash also sends back its bystanders.
      if (delivery.redeliveries > 0) {
        const crashes = await soloCrashes(delivery)
        if (crashes >= soloBudget(config.retry.maxRedeliveries)) {
          const reason = new RedeliveriesExhausted(delivery.redeliveries, crashes, config.retry.maxRedeliveries)
          return deadLetter(delivery, reason, attempt, firstFailureAt ?? Date.now())
        }
      }
      if (attempt > config.retry.attempts) {
        return deadLetter(delivery, new AttemptsExhausted(attempt, config.retry.attempts), attempt, firstFailureAt ?? Date.now())
      }
      let payload: unknown
      try {
        payload = decodeWith(config.codec, delivery, config.maxPayloadBytes)
      } catch (decodeError) {
        return deadLetter(delivery, decodeError, attempt, firstFailureAt ?? Date.now())
      }
      const idem = config.idempotency
      const idemKey = idempotencyKey(config.group, env.id)
      if (idem) {
        const r = await claim(idem.store, idemKey, idem.leaseMs)
        if (r === "done") return settle("ack", () => delivery.ack(), () => emit(delivery, "duplicate", attempt))
      }
      for (;;) {
        let failed = false
        let error: unknown
        try {
          await config.handler(toMessage(env, payload, attempt, redeliveries, config.group))
        } catch (e) {
          failed = true
          error = e
        }
        if (!failed) {
          if (idem) await quietly(() => idem.store.complete(idemKey, idem.ttlMs))
          return settle("ack", () => delivery.ack(), () => emit(delivery, "handled", attempt))
        }
        const now = Date.now()
        firstFailureAt ??= now
        const delayMs = isPermanent(error) ? undefined : config.retry.delayAfter(attempt)
        if (delayMs === undefined) {
          const moved = await deadLetter(delivery, error, attempt, firstFailureAt)
          // Marked done only once the dead letter is stored: if that write failed, the broker
          // redelivers and the copy must not be acked as a duplicate (it would be lost).
          if (idem) await quietly(() => (moved ? idem.store.complete(idemKey, idem.ttlMs) : idem.store.release(idemKey)))
          return
        }
        if (!config.ordered) {
          if (idem) await quietly(() => idem.store.release(idemKey))
          const first = firstFailureAt
          return settle("retry", () => delivery.retry({ delayMs, firstFailureAt: first }), () => emit(delivery, "retry", attempt, { error, delayMs }))
        }
        // Ordered by key: retry in place so later messages of this key wait.
        emit(delivery, "retry", attempt, { error, delayMs })
        await wait(delayMs)
        if (closing) {
          if (idem) await quietly(() => idem.store.release(idemKey))
          return release(delivery)
        }
        attempt++
        redeliveries = 0
      }
    }

    // Deliveries already received when close() starts are still handled, not released: a
    // release is a redelivery on most brokers and would count against its redelivery budget for nothing.
    // The concurrency slot is for handlers: it is freed as soon as the settlement is issued, not
    // when the broker confirms it. The delivery stays unsettled in the adapter until then, so
    // prefetch still bounds it, and close() still waits for it (running counts until settled).
    // Holding the slot through the confirm capped a group at `concurrency` round trips at a time.
    // The solo gate is left only once the settlement resolved (./isolation.ts).
    const runOne = async (delivery: Delivery): Promise<void> => {
      await permits.acquire()
      let held = true
      const free = () => {
        if (held) {
          held = false
          permits.release()
        }
      }
      const alone = delivery.redeliveries > 0
      try {
        if (alone) {
          await gate.enterAlone()
          try {
            await process(freeingSlot(delivery, free), sleep)
          } finally {
            gate.leaveAlone()
          }
        } else {
          const entering = gate.enter()
          if (entering) await entering
          try {
            await process(freeingSlot(delivery, free), async (ms) => {
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
      running++
      const task = () => runOne(delivery)
      const done = config.ordered && delivery.envelope.key !== undefined ? keyed.run(delivery.envelope.key, task) : task()
      void done.finally(() => {
        running--
        if (running === 0) {
          const waiters = idle
          idle = []
          for (const w of waiters) w()
        }
      })
    }

    const drain = Effect.suspend(() => {
      closing = true
      if (running === 0) return Effect.void
      return Effect.callback<void>((resume) => {
        idle.push(() => resume(Effect.void))
      })
    })

    return { onDelivery, drain }
  })
