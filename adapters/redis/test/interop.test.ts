/**
 * A plain ioredis client, knowing nothing of Omnibus, reads a message
 * published by the adapter from the group's stream (XREADGROUP with its own
 * consumer group, and XRANGE) and finds the documented field layout
 * (src/fields.ts): compact by default, flat when asked for.
 */
import { Wire } from "@omnibus/core/adapter"
import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import type { EntryLayout } from "../src/fields.ts"
import { dropNamespace, envelope, open, REDIS_URL, testNamespace, unique } from "./helpers.ts"

const ns = testNamespace()
afterAll(() => dropNamespace(ns))

/** Publishes one message with the given layout; returns it and the fields a plain client reads back. */
const publishAndRead = async (entryLayout: EntryLayout | undefined) => {
  const bus = await open(ns, entryLayout ? { entryLayout } : {})
  const group = unique("interop")
  await bus.declareGroup({ group, patterns: ["shop.*.created"], ephemeral: false })
  const sent = envelope("shop.eu.created", new Uint8Array([0xff, 0x00, 0x7b]), { key: "cust-7", headers: { tenant: "t1" }, contentType: "application/octet-stream" })
  expect(await bus.publish([sent])).toEqual([{ ok: true }])
  await bus.close()

  const plain = new Redis(REDIS_URL)
  try {
    const stream = `omnibus:{${ns}}:g:${group}`
    await plain.xgroup("CREATE", stream, "foreign", "0")
    const read = (await plain.xreadgroupBuffer("GROUP", "foreign", "reader-1", "COUNT", 10, "STREAMS", stream, ">")) as Array<[Buffer, Array<[Buffer, Array<Buffer>]>]>
    const [, entries] = read[0]!
    expect(entries).toHaveLength(1)
    const ranged = (await plain.xrange(stream, "-", "+")) as Array<[string, Array<string>]>
    return { sent, fields: entries[0]![1], ranged: ranged[0]![1] }
  } finally {
    plain.disconnect()
  }
}

const expectedHeaders = (sent: { readonly id: string; readonly timestamp?: number }) => ({
  tenant: "t1",
  [Wire.id]: sent.id,
  [Wire.routingKey]: "shop.eu.created",
  [Wire.contentType]: "application/octet-stream",
  [Wire.timestamp]: String(sent.timestamp),
  [Wire.key]: "cust-7",
})

describe("interop with plain ioredis", () => {
  it("sees payload first, then core's wire headers as one JSON field (the default, compact layout)", async () => {
    const { sent, fields, ranged } = await publishAndRead(undefined)
    expect(fields.map((f, i) => (i === 1 ? "<payload>" : i === 3 ? "<json>" : f.toString()))).toEqual(["payload", "<payload>", "x-omnibus-headers", "<json>"])
    expect([...fields[1]!]).toEqual([0xff, 0x00, 0x7b])
    expect(JSON.parse(fields[3]!.toString())).toEqual(expectedHeaders(sent))
    expect(JSON.parse(ranged[3]!)).toEqual(expectedHeaders(sent))
  })

  it("sees payload first, then a field per header, with entryLayout: flat", async () => {
    const { sent, fields, ranged } = await publishAndRead("flat")
    expect(fields[0]!.toString()).toBe("payload")
    expect([...fields[1]!]).toEqual([0xff, 0x00, 0x7b])
    const headers: Record<string, string> = {}
    for (let i = 2; i < fields.length; i += 2) headers[fields[i]!.toString()] = fields[i + 1]!.toString()
    expect(headers).toEqual(expectedHeaders(sent))
    expect(ranged.slice(2, 4)).toEqual(["tenant", "t1"])
  })

  it("refuses an unknown entryLayout with a typed error", async () => {
    await expect(open(ns, { entryLayout: "json" as EntryLayout })).rejects.toMatchObject({ _tag: "InvalidOptions", option: "entryLayout" })
  })
})
