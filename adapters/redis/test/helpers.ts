import { randomUUID } from "node:crypto"
import { newMessageId, type Envelope } from "@omnibus/core/adapter"
import { Redis } from "ioredis"
import { RedisTransport, type RedisTransportOptions } from "../src/transport.ts"

export const REDIS_URL = process.env.OMNIBUS_REDIS_URL ?? "redis://127.0.0.1:6379"

/** A namespace per test file run: keys never collide with other runs or files. */
export const testNamespace = (): string => `test-${randomUUID().slice(0, 12)}`

export const unique = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`

export const open = (namespace: string, options?: RedisTransportOptions): Promise<RedisTransport> =>
  RedisTransport.create(REDIS_URL, { namespace, connectTimeoutMs: 5_000, ...options })

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

/** Deletes every key of a namespace (test cleanup). */
export const dropNamespace = async (namespace: string): Promise<void> => {
  const r = new Redis(REDIS_URL)
  try {
    let cursor = "0"
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `omnibus:{${namespace}}:*`, "COUNT", 1000)
      cursor = next
      if (keys.length) await r.del(...keys)
    } while (cursor !== "0")
  } finally {
    r.disconnect()
  }
}

/** Collects deliveries and waits for conditions with a deadline (shared with the other adapters' tests). */
export { Inbox } from "@omnibus/conformance"

/** Polls `ok` until true or the deadline (for broker-side state). */
export const eventually = async (ok: () => Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await ok()) return
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
