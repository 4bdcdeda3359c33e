/** Ids of messages without message_id (plain AMQP producers): fresh per delivery, or a content hash on request. */
import type { Message } from "amqplib"
import { describe, expect, it } from "vitest"
import { envelopeOf } from "../src/mapping.ts"

const message = (over: { routingKey?: string; body?: string; headers?: Record<string, unknown>; messageId?: string; redelivered?: boolean; contentType?: string }): Message => ({
  content: Buffer.from(over.body ?? "payload"),
  fields: { deliveryTag: 1, redelivered: over.redelivered ?? false, exchange: "events", routingKey: over.routingKey ?? "employee.created" },
  properties: {
    contentType: over.contentType ?? "application/protobuf", contentEncoding: undefined, headers: over.headers ?? {}, deliveryMode: 2, priority: undefined,
    correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: over.messageId, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined,
  },
}) as Message

describe("foreign message ids", () => {
  it("fresh (default): a new id per delivery", () => {
    expect(envelopeOf(message({})).id).not.toBe(envelopeOf(message({})).id)
  })
  it("content: the same id on a redelivery (whatever the broker's bookkeeping headers say)", () => {
    const first = envelopeOf(message({}), undefined, "content")
    const again = envelopeOf(message({ redelivered: true, headers: { "x-delivery-count": 1 } }), undefined, "content")
    expect(first.id).toMatch(/^sha256:[0-9a-f]{32}$/)
    expect(again.id).toBe(first.id)
  })
  it("content: differs with the routing key, body, content type or a header", () => {
    const id = (m: Message) => envelopeOf(m, undefined, "content").id
    const base = id(message({}))
    expect(id(message({ routingKey: "employee.updated" }))).not.toBe(base)
    expect(id(message({ body: "payload2" }))).not.toBe(base)
    expect(id(message({ contentType: "application/x-protobuf" }))).not.toBe(base)
    expect(id(message({ headers: { seq: 2 } }))).not.toBe(base)
  })
  it("a message_id always wins", () => {
    expect(envelopeOf(message({ messageId: "m-1" }), undefined, "content").id).toBe("m-1")
  })
})
