/**
 * `tail --group g --count n` on a transport that records what the CLI asks of it:
 * the consumer is stopped before the last counted delivery is acked, so the ack
 * frees no prefetch slot for another message of the group to arrive (real
 * brokers: binary.test.ts, "omnibus tail --group").
 */
import { registerAdapter, type ConsumeSpec, type Delivery, type Transport } from "@omnibus/core/adapter"
import { expect, it } from "vitest"
import { eventually, inProcess } from "./harness.ts"

const log: string[] = []
let deliver: ((d: Delivery) => void) | undefined
let spec: ConsumeSpec | undefined

const recording = {
  name: "recording",
  limits: { maxPayloadBytes: 1024 },
  publish: async () => [],
  declareGroup: async () => {},
  consume: async (s: ConsumeSpec, onDelivery: (d: Delivery) => void) => {
    spec = s
    deliver = onDelivery
    return { stop: async () => void log.push("stop"), close: async () => void log.push("close") }
  },
  serve: async () => ({ stop: async () => {}, close: async () => {} }),
  request: async () => {
    throw new Error("not used")
  },
  deadLetters: { list: async () => [], replay: async () => 0, purge: async () => 0 },
  health: async () => ({ ready: true }),
  close: async () => {},
} satisfies Transport

registerAdapter({ name: "recording", schemes: ["recording"], create: async () => recording })

const delivery = (id: string): Delivery => ({
  envelope: { id, routingKey: "orders.created", payload: new TextEncoder().encode("{}"), contentType: "application/json", headers: {}, timestamp: 0 },
  attempt: 1,
  redeliveries: 0,
  firstFailureAt: undefined,
  ack: async () => void log.push(`ack ${id}`),
  retry: async () => void log.push(`retry ${id}`),
  release: async () => void log.push(`release ${id}`),
  deadLetter: async () => void log.push(`dead-letter ${id}`),
})

it("tail --group --count: one delivery at a time, and the consumer stopped before the last one is acked", async () => {
  const cli = inProcess({ OMNIBUS_URL: "recording://test" })
  const tailing = cli.run(["tail", "orders.*", "--group", "billing", "--count", "2", "--json"])
  await eventually(async () => deliver, 5_000, "tail to consume")
  expect(spec).toMatchObject({ group: "billing", prefetch: 1, ephemeral: false })
  deliver!(delivery("m1"))
  await eventually(async () => (log.includes("ack m1") ? true : undefined), 5_000, "m1 acked")
  deliver!(delivery("m2"))
  expect(await tailing).toBe(0)
  expect(log).toEqual(["ack m1", "stop", "ack m2", "close"])
})
