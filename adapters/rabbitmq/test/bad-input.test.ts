/**
 * Bad input against the machine's RabbitMQ: raw messages published to the
 * `events` topic exchange (the documented layout) by a foreign producer, so
 * they reach the groups' queues through their bindings. The producer is a
 * minimal AMQP client (test/raw-amqp.ts), not amqplib: amqplib cannot encode
 * header tables over 64 KiB, which RabbitMQ accepts from other clients.
 */
import { connect } from "@omnibus/core"
import { describe, expect, it } from "vitest"
import { describeBadInput } from "@omnibus/conformance/bad-input"
import { deleteGroups } from "../src/index.ts"
import "../src/index.ts"
import { cleanupGroups, unique, until, URL_ } from "./helpers.ts"
import { RawAmqp } from "./raw-amqp.ts"
import { rawProducer } from "./raw-producer.ts"

const raw = rawProducer(URL_)

describeBadInput("rabbitmq", {
  connect: (options) => connect(URL_, { ...options }),
  writeRaw: raw.writeRaw,
  cleanup: async (groups) => {
    await raw.close()
    await deleteGroups(URL_, groups)
  },
})

describe("rabbitmq: a message with headers near core's limit whose handler always fails", () => {
  it("goes through its retries to the dead letters (republishes fit amqplib's 64 KiB header table)", async () => {
    const bus = await connect(URL_)
    const group = unique("bi-retry")
    try {
      const attempts: Array<number> = []
      await bus.subscribe(`${group}.x`, (m) => {
        attempts.push(m.attempt)
        throw new Error("always")
      }, { group, retry: { attempts: 3, backoff: { initial: 20, jitter: false } } })
      const own = await RawAmqp.open(URL_)
      // User headers of 65,475 characters: within core's MAX_HEADER_BYTES (65,536: a valid message), but
      // encoded as an AMQP table (6 bytes per entry more) with the retry's Omnibus headers they no longer
      // fit amqplib's 65,536-byte buffer. Unfitted, each retry publish failed and the requeued original
      // came back as attempt 2 forever (classic queues: a hot loop, never dead-lettered).
      const headers: Record<string, string> = { "x-omnibus-id": `near-limit-${group}` }
      for (let i = 0; i < 9; i++) headers[`pad-${i}`] = "h".repeat(7_270)
      try {
        own.publish({ exchange: "events", routingKey: `${group}.x`, body: Buffer.from("{}"), contentType: "application/json", headers })
        await own.confirms()
      } finally {
        await own.close()
      }
      let dead: Awaited<ReturnType<typeof bus.deadLetters.list>> = []
      await until(() => attempts.length >= 3, "3 attempts")
      const deadline = Date.now() + 10_000
      while (dead.length === 0 && Date.now() < deadline) dead = await bus.deadLetters.list(group)
      expect(attempts).toEqual([1, 2, 3])
      expect(dead.map((d) => d.id)).toEqual([`near-limit-${group}`])
      expect(dead[0]!.failure.attempts).toBe(3)
      expect(dead[0]!.headers["omnibus-dropped-headers"], "the user headers dropped to fit").toMatch(/^pad-\d(,pad-\d)*$/)
    } finally {
      await bus.close()
      await cleanupGroups()
    }
  })
})
