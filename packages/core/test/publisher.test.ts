/** The coalescing publisher (src/publisher.ts): one transport batch per turn, each publish settled by its own outcome. */
import { describe, expect, it } from "vitest"
import type { Envelope } from "../src/envelope.ts"
import { Publisher } from "../src/publisher.ts"
import type { OnPublishOutcome, PublishOutcome, Transport } from "../src/transport.ts"

const envelope = (routingKey: string): Envelope => ({ id: routingKey, routingKey, payload: new Uint8Array(), contentType: "application/json", headers: {}, timestamp: 0 })

/** A transport whose batches the test settles by hand: entry by entry through onOutcome, or the whole batch. */
const manualTransport = () => {
  const batches: Array<{ readonly size: number; readonly entry: (i: number) => void; readonly all: () => void }> = []
  const transport = {
    publish(batch: ReadonlyArray<Envelope>, onOutcome?: OnPublishOutcome) {
      return new Promise<ReadonlyArray<PublishOutcome>>((resolve) => {
        batches.push({ size: batch.length, entry: (i) => onOutcome?.(i, { ok: true }), all: () => resolve(batch.map(() => ({ ok: true }))) })
      })
    },
  } as unknown as Transport
  return { transport, batches }
}

const state = (p: Promise<unknown>): Promise<"settled" | "pending"> => Promise.race([p.then(() => "settled" as const), new Promise<"pending">((r) => setImmediate(() => r("pending")))])

describe("Publisher", () => {
  it("sends the publishes of one turn as one batch", async () => {
    const { transport, batches } = manualTransport()
    const publisher = new Publisher(transport)
    const sent = ["a", "b", "c"].map((k) => publisher.send(envelope(k)))
    await new Promise((r) => setImmediate(r))
    expect(batches.map((b) => b.size)).toEqual([3])
    batches[0]!.all()
    expect(await Promise.all(sent)).toEqual([{ ok: true }, { ok: true }, { ok: true }])
  })

  it("settles a publish on its own outcome, before the rest of its batch", async () => {
    const { transport, batches } = manualTransport()
    const publisher = new Publisher(transport)
    const [a, b] = [publisher.send(envelope("a")), publisher.send(envelope("b"))]
    await new Promise((r) => setImmediate(r))
    batches[0]!.entry(1)
    expect([await state(a), await state(b)]).toEqual(["pending", "settled"])
    batches[0]!.all()
    expect(await a).toEqual({ ok: true })
    await publisher.flushed()
  })
})
