/**
 * Plain nats.js clients talk to Omnibus: a core NATS request reaches an
 * Omnibus RPC server, a plain JetStream publish reaches an Omnibus subscription.
 */
import { randomUUID } from "node:crypto"
import { connect as natsConnect } from "@nats-io/transport-node"
import { headers } from "@nats-io/nats-core"
import type { NatsConnection } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { connect, json } from "@omnibus/core"
import type { Bus } from "@omnibus/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import "../src/index.ts"
import { NATS_URL } from "./helpers.ts"

let bus: Bus
let nc: NatsConnection
beforeAll(async () => {
  bus = await connect(NATS_URL, { connectTimeoutMs: 5_000 })
  nc = await natsConnect({ servers: new URL(NATS_URL).host })
})
afterAll(async () => {
  await bus?.close()
  await nc?.close()
})

describe("interop with plain nats.js", () => {
  it("a plain request to rpc.employee.search is answered by an Omnibus RPC server", async () => {
    // No headers on a plain request: the payload arrives as bytes (application/octet-stream).
    const server = await bus.handle<Uint8Array>(
      "employee.search",
      (req) => ({ found: [(JSON.parse(Buffer.from(req.payload).toString("utf8")) as { name: string }).name], by: "omnibus" }),
      { group: `interop-${randomUUID().slice(0, 8)}` },
    )
    try {
      const reply = await nc.request("rpc.employee.search", JSON.stringify({ name: "Ada" }), { timeout: 5_000 })
      expect(reply.json()).toEqual({ found: ["Ada"], by: "omnibus" })
    } finally {
      await server.close()
    }
  })

  it("a plain JetStream publish to events.employee.created reaches a subscription on employee.*", async () => {
    const marker = randomUUID()
    const received: Array<unknown> = []
    let resolve!: () => void
    const got = new Promise<void>((r) => (resolve = r))
    const sub = await bus.subscribe<{ marker: string }>(
      "employee.*",
      (m) => {
        if (m.payload.marker === marker) {
          received.push(m.payload)
                    resolve()
        }
      },
      { group: `interop-${randomUUID().slice(0, 8)}`, codec: json as never },
    )
    try {
      // A foreign producer names its payload's type with the content-type header (core picks the codec by it).
      const h = headers()
      h.set("content-type", "application/json")
      const ack = await jetstream(nc).publish("events.employee.created", JSON.stringify({ marker, name: "Ada" }), { headers: h })
      expect(ack.stream).toBe("events")
      await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error("not delivered within 10 s")), 10_000))])
      expect(received).toEqual([{ marker, name: "Ada" }])
    } finally {
      await sub.close()
    }
  })
})
