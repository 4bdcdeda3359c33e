/**
 * Bad input against the machine's NATS: raw messages published with plain
 * nats.js JetStream to `events.<routing key>` (the documented layout), as a
 * foreign producer would.
 */
import { headers as natsHeaders } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { connect as natsConnect } from "@nats-io/transport-node"
import { randomUUID } from "node:crypto"
import { connect, json } from "@omnibus/core"
import { describe, expect, it } from "vitest"
import { describeBadInput } from "@omnibus/conformance/bad-input"
import { deleteGroups } from "../src/index.ts"
import "../src/index.ts"
import { BLOB_HEADER } from "../src/wire.ts"
import { eventually, NATS_URL } from "./helpers.ts"
import { rawProducer } from "./raw-producer.ts"

const raw = rawProducer(NATS_URL)

describeBadInput("nats", {
  connect: (options) => connect(NATS_URL, { connectTimeoutMs: 5_000, ...options }),
  writeRaw: raw.writeRaw,
  refuses: { "oversized-headers": "JetStream stores no message whose headers exceed 64 KiB (server limit), so none can reach a consumer" },
  cleanup: async (groups) => {
    await raw.close()
    await deleteGroups(NATS_URL, groups)
  },
})

describe("nats: a foreign message with a malformed claim-check header", () => {
  it("reaches core (and its dead letters) instead of being redelivered forever", async () => {
    const bus = await connect(NATS_URL, { connectTimeoutMs: 5_000 })
    const group = `bi-blob-${randomUUID().slice(0, 8)}`
    const key = `${group}.blob`
    try {
      let handled = 0
      await bus.subscribe(key, () => { handled++ }, { group, codec: json })
      const raw = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") })
      try {
        for (const ref of ["not-a-sequence", "1,,x", "-5"]) {
          const h = natsHeaders()
          h.set(BLOB_HEADER, ref)
          h.set("content-type", "application/json")
          h.set("ref", ref)
          await jetstream(raw).publish(`events.${key}`, new TextEncoder().encode("{not json"), { headers: h })
        }
      } finally {
        await raw.close()
      }
      await eventually(async () => (await bus.deadLetters.list(group)).length === 3, 10_000, "3 dead letters")
      const dead = await bus.deadLetters.list(group)
      expect(dead.map((d) => d.headers.ref).sort()).toEqual(["-5", "1,,x", "not-a-sequence"])
      expect(dead.every((d) => d.failure.errorName === "DecodeFailed")).toBe(true)
      expect(handled).toBe(0)
    } finally {
      await bus.close()
      await deleteGroups(NATS_URL, [group])
    }
  })
})
