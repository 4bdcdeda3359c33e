/** Shared test helpers: broker URL, unique names, condition waits, envelopes. */
import * as amqp from "amqplib"
import { newMessageId } from "@omnibus/core/adapter"
import type { ConsumeSpec, Delivery, Envelope, TransportOptions } from "@omnibus/core/adapter"
import { parseSettings } from "../src/options.ts"
import { Topology } from "../src/topology.ts"
import { RabbitTransport } from "../src/transport.ts"

export const URL_ = process.env.OMNIBUS_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"

const created = new Set<string>()

/** A unique group/method name; groups made here are deleted by cleanupGroups(). */
export const unique = (prefix: string): string => {
  const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  created.add(name)
  return name
}

/** This test file's routing-key prefix, so runs sharing the broker never see each other's messages. */
const RUN = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
export const k = (key: string): string => `${RUN}.${key}`

/** Deletes the queues (group, delay, dead letters; default and quorum prefixes) of every name made by unique(). */
export const cleanupGroups = async (): Promise<void> => {
  const names = [...created]
  created.clear()
  if (names.length === 0) return
  const model = await amqp.connect(URL_)
  model.on("error", () => {})
  try {
    const ch = await model.createChannel()
    for (const options of [{}, { queuePrefix: "omnibus.q." }]) {
      const t = new Topology(parseSettings(URL_, options))
      for (const n of names) {
        await ch.deleteQueue(t.groupQueue(n))
        await ch.deleteQueue(t.delayQueue(n))
        await ch.deleteQueue(t.deadLetterQueue(n))
      }
    }
  } finally {
    await model.close().catch(() => {})
  }
}

export const open = async (options: TransportOptions = {}): Promise<RabbitTransport> => {
  const t = new RabbitTransport(URL_, options)
  await t.start()
  return t
}

/** Resolves once `ok()` holds; rejects after `timeoutMs` naming `what`. */
export const until = async (ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const envelope = (routingKey: string, text: string, extra: Partial<Envelope> = {}): Envelope => ({
  id: newMessageId(),
  routingKey,
  payload: new TextEncoder().encode(text),
  contentType: "text/plain",
  headers: {},
  timestamp: Date.now(),
  ...extra,
})

export const spec = (group: string, patterns: ReadonlyArray<string>, extra: Partial<ConsumeSpec> = {}): ConsumeSpec => ({
  group,
  patterns,
  ephemeral: false,
  prefetch: 10,
  ...extra,
})

export const text = (d: Delivery): string => new TextDecoder().decode(d.envelope.payload)
