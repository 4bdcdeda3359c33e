import { describe, expect, it } from "vitest"
import { handleDelivery, type PipelineConfig } from "../src/consume/handle.ts"
import { Settler } from "../src/consume/settle.ts"
import type { HandlerEvent } from "../src/consume/events.ts"
import { RedeliveriesExhausted } from "../src/consume/budget.ts"
import { newMessageId } from "../src/envelope.ts"
import type { Logger } from "../src/logger.ts"
import { retryPolicy } from "../src/retry.ts"
import { DeliveryLost, type Delivery, type FailureMetadata } from "../src/transport.ts"

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined }

/** A redelivered message (a crash sent it back) whose adapter counts solo runs with `beginSolo`. */
const suspect = (redeliveries: number, beginSolo: () => Promise<number>) => {
  const settled: Array<string> = []
  const deadLetters: Array<FailureMetadata> = []
  const delivery: Delivery = {
    envelope: { id: newMessageId(), routingKey: "a.b", payload: new Uint8Array([1]), contentType: "application/octet-stream", headers: {}, timestamp: Date.now() },
    attempt: 1,
    redeliveries,
    firstFailureAt: undefined,
    beginSolo,
    ack: async () => void settled.push("ack"),
    retry: async () => void settled.push("retry"),
    release: async () => void settled.push("release"),
    deadLetter: async (failure) => {
      settled.push("deadLetter")
      deadLetters.push(failure)
    },
  }
  return { delivery, settled, deadLetters }
}

const pipeline = (handler: () => Promise<void>, events: Array<HandlerEvent>): PipelineConfig => ({
  system: "test",
  group: "g",
  ordered: false,
  retry: retryPolicy({ maxRedeliveries: 2 }),
  idempotency: undefined,
  codec: undefined,
  handler,
  middleware: [],
  maxPayloadBytes: 1 << 20,
  settler: new Settler("g", true, [(e) => events.push(e)], silent),
  logger: silent,
  closing: () => false,
})

const noWait = async () => undefined

describe("redelivery budget", () => {
  it("gives back a delivery its consumer lost before the solo run started, neither running nor dead-lettering it", async () => {
    // many redeliveries counted by the broker (rebalances it sat through), none of them a crash of its own
    const { delivery, settled } = suspect(5, () => Promise.reject(new DeliveryLost("partition revoked")))
    let ran = 0
    const events: Array<HandlerEvent> = []
    await handleDelivery(
      pipeline(async () => void ran++, events),
      delivery,
      noWait,
    )
    expect(ran).toBe(0)
    expect(settled).toEqual(["release"])
    expect(events.map((e) => e.type)).toEqual(["released"])
  })

  it("runs a suspect whose earlier solo runs are under the budget, whatever the broker's count", async () => {
    const { delivery, settled } = suspect(5, async () => 1)
    let ran = 0
    await handleDelivery(pipeline(async () => void ran++, []), delivery, noWait)
    expect(ran).toBe(1)
    expect(settled).toEqual(["ack"])
  })

  it("dead-letters a suspect that crashed its consumer alone as often as the budget allows", async () => {
    const { delivery, deadLetters } = suspect(2, async () => 2)
    let ran = 0
    await handleDelivery(pipeline(async () => void ran++, []), delivery, noWait)
    expect(ran).toBe(0)
    expect(deadLetters.map((f) => f.errorName)).toEqual([new RedeliveriesExhausted(2, 2, 2).name])
  })

  it("falls back to the broker's count when the solo run could not be recorded (store unreachable)", async () => {
    const { delivery, deadLetters } = suspect(3, () => Promise.reject(new Error("store unreachable")))
    let ran = 0
    await handleDelivery(pipeline(async () => void ran++, []), delivery, noWait)
    expect(ran).toBe(0)
    expect(deadLetters).toHaveLength(1)
  })
})
