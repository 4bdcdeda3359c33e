/**
 * A foreign AMQP producer: publishes to the `events` topic exchange (the documented
 * layout) with test/raw-amqp.ts, as pika or amqplib users do, for the bad-input and
 * conformance suites.
 */
import type { RawMessage } from "@omnibus/conformance/bad-input"
import { RawAmqp } from "./raw-amqp.ts"

export const rawProducer = (url: string) => {
  let raw: Promise<RawAmqp> | undefined
  return {
    async writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void> {
      const client = await (raw ??= RawAmqp.open(url))
      for (const m of messages) {
        client.publish({
          exchange: "events",
          routingKey: m.routingKey,
          body: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength),
          contentType: m.contentType,
          headers: m.headers,
        })
      }
      await client.confirms()
    },
    async close(): Promise<void> {
      await (await raw)?.close()
    },
  }
}
