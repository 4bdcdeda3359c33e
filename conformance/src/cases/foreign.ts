/**
 * Foreign producers (cases 36, 37): messages written with the broker's own
 * client, as pika, kcat, amqplib, nats.js or ioredis users do: no Omnibus
 * headers, no id, the content type they happen to use.
 */
import { MemoryIdempotencyStore, json } from "@omnibus/core"
import type { Bus, DeadLetterRecord, HandlerEvent, IdempotencyStore, Message } from "@omnibus/core"
import { expect } from "vitest"
import { employeeProto, type Employee, type RawMessage } from "../bad-input.ts"
import { defineCase, safeJson } from "../context.ts"
import type { CaseContext, Suite } from "../context.ts"
import type { ForeignProducer } from "../harness.ts"
import { deferred } from "../wait.ts"

const TYPE = "omnibus.badinput.Employee"

/** Protobuf spellings a protobuf contract decodes (none = no content type at all). */
const PROTOBUF_CONTENT_TYPES: ReadonlyArray<string | undefined> = [
  "application/protobuf",
  `application/protobuf; messageType=${TYPE}`,
  "application/x-protobuf",
  `application/x-protobuf; messageType=${TYPE}`,
  `application/vnd.google.protobuf; proto=${TYPE}`,
  "application/octet-stream",
  undefined,
]
/** Valid Employee bytes that declare another message type: never handed to the handler. */
const OTHER_TYPE: ReadonlyArray<readonly [string, RegExp]> = [
  ["application/protobuf; messageType=omnibus.other.Employee", /declares messagetype=omnibus\.other\.Employee/],
  ["application/x-protobuf; proto=omnibus.badinput.Manager", /declares proto=omnibus\.badinput\.Manager/],
]
const JSON_CONTENT_TYPES: ReadonlyArray<string> = ["application/json; charset=utf-8", "application/cloudevents+json", "application/vnd.omnibus.employee+json; version=1"]

const encoder = new TextEncoder()
const employee = (guid: string, seq: number): Employee => ({ guid, firstName: "Ada", lastName: "Lovelace", seq })

const producerOf = (suite: Suite): ForeignProducer | undefined => {
  const f = suite.harness.foreign
  return "writeRaw" in f ? f : undefined
}
const notApplicable = (suite: Suite) => {
  const f = suite.harness.foreign
  return "reason" in f ? { notApplicable: f.reason } : {}
}

/** A bus with the producer's stable-id settings, closed when the case ends unless it is in `crashed`. */
const openStable = async (ctx: CaseContext, producer: ForeignProducer, crashed: ReadonlySet<Bus>): Promise<Bus> => {
  const lease = { leaseMs: ctx.harness.leaseMs }
  if (producer.connect === undefined) return ctx.connect(lease)
  const bus = await producer.connect(lease)
  ctx.defer(() => (crashed.has(bus) ? undefined : bus.close()))
  return bus
}

export const registerForeign = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 36
  defineCase(suite, 36, async (ctx) => {
    const producer = producerOf(suite)!
    const bus = await ctx.connect()
    const protoGroup = ctx.group("proto")
    const jsonGroup = ctx.group("json")
    const protoKey = ctx.key("employee", "created")
    const jsonKey = ctx.key("employee", "json")
    const handled = new Map<string, Message<Employee>>()
    const jsonHandled = new Map<string, unknown>()
    await bus.subscribe(protoKey, (m: Message<Employee>) => { handled.set(m.payload.guid, m) }, { group: protoGroup, codec: employeeProto })
    await bus.subscribe(jsonKey, (m) => { jsonHandled.set((m.payload as Employee).guid, m.payload) }, { group: jsonGroup, codec: json })

    const raw: Array<RawMessage> = []
    PROTOBUF_CONTENT_TYPES.forEach((contentType, i) =>
      raw.push({ group: protoGroup, routingKey: protoKey, payload: employeeProto.encode(employee(`ok-${i}`, i + 1)), contentType, headers: { n: `ok-${i}` } }))
    OTHER_TYPE.forEach(([contentType], i) =>
      raw.push({ group: protoGroup, routingKey: protoKey, payload: employeeProto.encode(employee(`other-${i}`, i)), contentType, headers: { n: `other-${i}` } }))
    JSON_CONTENT_TYPES.forEach((contentType, i) =>
      raw.push({ group: jsonGroup, routingKey: jsonKey, payload: encoder.encode(JSON.stringify(employee(`json-${i}`, i))), contentType, headers: { n: `json-${i}` } }))
    await producer.writeRaw(raw)

    const wanted = PROTOBUF_CONTENT_TYPES.map((_, i) => `ok-${i}`)
    await ctx.eventually(
      () => wanted.every((g) => handled.has(g)) && jsonHandled.size === JSON_CONTENT_TYPES.length,
      () => `every accepted content type handled (missing ${safeJson(wanted.filter((g) => !handled.has(g)).map((g) => PROTOBUF_CONTENT_TYPES[Number(g.slice(3))] ?? "none"))}, JSON ${jsonHandled.size}/${JSON_CONTENT_TYPES.length})`,
    )
    for (const [i] of PROTOBUF_CONTENT_TYPES.entries()) {
      const m = handled.get(`ok-${i}`)!
      expect(m.payload, `decoded payload of content type ${PROTOBUF_CONTENT_TYPES[i] ?? "none"}`).toEqual(employee(`ok-${i}`, i + 1))
      expect(m.id.length, "a foreign message still has an id").toBeGreaterThan(0)
    }

    let dead: ReadonlyArray<DeadLetterRecord> = []
    await ctx.eventually(async () => (dead = await bus.deadLetters.list(protoGroup)).length >= OTHER_TYPE.length, () => `${OTHER_TYPE.length} dead letters (listed ${dead.length})`)
    expect(dead.map((d) => d.headers.n).sort()).toEqual(OTHER_TYPE.map((_, i) => `other-${i}`))
    for (const d of dead) {
      const [contentType, reason] = OTHER_TYPE[Number(d.headers.n!.slice("other-".length))]!
      expect(d.failure.errorName, contentType).toBe("DecodeFailed")
      expect(d.failure.error, contentType).toMatch(reason)
      expect(d.failure.attempts).toBe(1)
    }

    // The consumer keeps running: a message written afterwards is handled.
    await producer.writeRaw([{ group: protoGroup, routingKey: protoKey, payload: employeeProto.encode(employee("after", 99)), contentType: "application/protobuf", headers: { n: "after" } }])
    await ctx.eventually(() => handled.has("after"), "a message written after the dead letters to be handled")
    expect([...handled.keys()].filter((g) => g.startsWith("other-")), "declared another type, yet handled").toEqual([])
  }, notApplicable(suite))

  // ---------------------------------------------------------------- case 37
  defineCase(suite, 37, async (ctx) => {
    const producer = producerOf(suite)!
    const group = ctx.group()
    const key = ctx.key("foreign")
    const crashed = new Set<Bus>()
    const store = new MemoryIdempotencyStore()
    // A marks the id done, then "dies" before its ack: the mark is stored, the ack never sent.
    const dying = deferred()
    ctx.defer(() => dying.resolve())
    const markedByA: Array<string> = []
    const storeA: IdempotencyStore = {
      claim: (k, leaseMs) => store.claim(k, leaseMs),
      release: (k) => store.release(k),
      complete: async (k, ttlMs) => {
        await store.complete(k, ttlMs)
        markedByA.push(k)
        await dying.promise
      },
    }
    const busA = await openStable(ctx, producer, crashed)
    const seenA: Array<string> = []
    await busA.subscribe(key, (m) => { seenA.push(m.id) }, { group, codec: json, idempotency: { store: storeA, lease: "2 seconds" } })

    await producer.writeRaw([{ group, routingKey: key, payload: encoder.encode(JSON.stringify({ n: 37 })), contentType: "application/json", headers: { mark: "no-id" } }])
    await ctx.eventually(() => markedByA.length === 1, "A handled the foreign message and marked it done")
    crashed.add(busA)
    await ctx.crash(busA)

    const busB = await openStable(ctx, producer, crashed)
    const seenB: Array<string> = []
    const events: Array<HandlerEvent> = []
    await busB.subscribe(key, (m) => { seenB.push(m.id) }, { group, codec: json, idempotency: { store, lease: "2 seconds" }, observe: (e) => { events.push(e) } })
    await ctx.eventually(
      () => events.length > 0,
      () => `the redelivery after A's crash (A saw id ${seenA[0]})`,
      ctx.eventuallyMs * 2,
    )
    expect(seenB, `the redelivery was handled again: B saw id ${seenB[0]}, A saw ${seenA[0]}`).toEqual([])
    expect(events.map((e) => [e.type, e.id])).toEqual([["duplicate", seenA[0]]])
  }, { ...notApplicable(suite), timeoutMs: 6 * suite.eventuallyMs + 20_000 })
}
