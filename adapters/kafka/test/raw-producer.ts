/**
 * A foreign Kafka producer: plain kafkajs records on the events topic
 * (`<prefix>.events`, the documented layout: payload as the value, metadata as
 * headers), for the bad-input and conformance suites.
 */
import type { RawMessage } from "@omnibus/conformance/bad-input"
import { Kafka, logLevel } from "kafkajs"
import type { Producer } from "kafkajs"

export const ROUTING_KEY_HEADER = "x-omnibus-routing-key"

export const rawKafka = (url: string): Kafka =>
  new Kafka({ clientId: "omnibus-raw", brokers: url.replace(/^kafka:\/\//, "").split(","), logLevel: logLevel.NOTHING })

export const rawProducer = (kafka: Kafka, prefix: string) => {
  let producer: Promise<Producer> | undefined
  return {
    async writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void> {
      const p = await (producer ??= (async () => {
        const made = kafka.producer({ allowAutoTopicCreation: false })
        await made.connect()
        return made
      })())
      await p.send({
        topic: `${prefix}.events`,
        acks: -1,
        messages: messages.map((m) => {
          const headers: Record<string, string> = { ...m.headers }
          if (m.contentType !== undefined) headers["content-type"] = m.contentType
          // On Kafka the routing key exists only as this header (every group reads the one events
          // topic): it is the address, like the AMQP routing key or the NATS subject, so even a
          // record "without Omnibus headers" carries it, or it would be for no group at all.
          headers[ROUTING_KEY_HEADER] ??= m.routingKey
          return { value: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength), headers }
        }),
      })
    },
    async close(): Promise<void> {
      await (await producer)?.disconnect()
    },
  }
}
