/**
 * A foreign NATS producer: plain nats.js JetStream publishes to `events.<routing key>`
 * (the documented layout), for the bad-input and conformance suites.
 */
import { headers as natsHeaders } from "@nats-io/nats-core"
import type { NatsConnection } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { connect as natsConnect } from "@nats-io/transport-node"
import type { RawMessage } from "@omnibus/conformance/bad-input"

export const rawProducer = (url: string) => {
  let nc: Promise<NatsConnection> | undefined
  return {
    async writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void> {
      const js = jetstream(await (nc ??= natsConnect({ servers: url.replace(/^nats:\/\//, "") })))
      // Published in order on one connection; the PubAcks are awaited together.
      await Promise.all(
        messages.map((m) => {
          const h = natsHeaders()
          for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v)
          if (m.contentType !== undefined) h.set("content-type", m.contentType)
          return js.publish(`events.${m.routingKey}`, m.payload, { headers: h })
        }),
      )
    },
    async close(): Promise<void> {
      await (await nc)?.close()
    },
  }
}
