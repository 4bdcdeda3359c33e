import { randomUUID } from "node:crypto"
import { newMessageId } from "@omnibus/core/adapter"
import type { Envelope, TransportOptions } from "@omnibus/core/adapter"
import { NatsTransport } from "../src/transport.ts"

export const NATS_URL = process.env.OMNIBUS_NATS_URL ?? "nats://127.0.0.1:4222"

export const unique = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`

export const open = (options?: TransportOptions): Promise<NatsTransport> =>
  NatsTransport.create(NATS_URL, { connectTimeoutMs: 5_000, ...options })

export const envelope = (routingKey: string, payload: string | Uint8Array, extra?: Partial<Envelope>): Envelope => ({
  id: newMessageId(),
  routingKey,
  payload: typeof payload === "string" ? new TextEncoder().encode(payload) : payload,
  contentType: "text/plain",
  headers: {},
  timestamp: Date.now(),
  ...extra,
})

export const text = (e: Envelope): string => new TextDecoder().decode(e.payload)

/** Collects deliveries and waits for conditions with a deadline (shared with the other adapters' tests). */
export { Inbox } from "@omnibus/conformance"

/** Polls an async condition until it holds or the deadline passes. */
export const eventually = async (ok: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ok()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
