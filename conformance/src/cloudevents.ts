/**
 * The two checks every adapter's CloudEvents test makes against its broker
 * (adapters/<name>/test/cloudevents.test.ts), so all bindings are held to the
 * same mapping (packages/core/src/cloudevents.ts):
 * - what Omnibus publishes with `cloudEvents: true` (`PUBLISHED`), decoded from
 *   the raw message by the CloudEvents SDK (or read as the binding specifies),
 *   is the event `expectPublishedEvent` describes;
 * - the event a foreign producer sends (`foreignEvent`) reaches a handler as
 *   the message `expectDeliveredEvent` describes.
 */
import type { Message } from "@omnibus/core"
import { expect } from "vitest"

/** A decoded event, as the CloudEvents SDK's `CloudEvent` has it. */
export interface DecodedCloudEvent {
  validate(): boolean
  readonly specversion: string
  readonly id: string
  readonly source: string
  readonly type: string
  readonly time?: string | undefined
  readonly subject?: string | undefined
  readonly datacontenttype?: string | undefined
  readonly data?: unknown
}

/** What each test publishes with Omnibus (its own id and routing key on top). */
export const PUBLISHED = {
  payload: { name: "Ada" },
  key: "emp-7",
  timestamp: new Date("2026-03-04T05:06:07.089Z"),
} as const

/** `event` is a valid CloudEvent of the PUBLISHED message with this id, routing key and source. */
export const expectPublishedEvent = (
  event: DecodedCloudEvent,
  expected: { readonly id: string; readonly type: string; readonly source: string; readonly subject?: string },
): void => {
  expect(event.validate()).toBe(true)
  const { specversion, id, source, type, time, subject, datacontenttype, data } = event
  expect({ specversion, id, source, type, time, subject, datacontenttype, data }).toEqual({
    specversion: "1.0",
    id: expected.id,
    source: expected.source,
    type: expected.type,
    time: PUBLISHED.timestamp.toISOString(),
    subject: expected.subject ?? PUBLISHED.key,
    datacontenttype: "application/json",
    data: PUBLISHED.payload,
  })
}

/** The attributes of the event a foreign producer sends in each test (`type` matches the test's subscription). */
export const foreignEvent = (type: string) =>
  ({
    id: "evt-42",
    source: "/hr/foreign",
    type,
    time: "2026-03-04T05:06:07Z",
    subject: "emp-9",
    datacontenttype: "application/json",
    data: { name: "Grace" },
  }) as const

/** The message delivered for `event` carries its attributes; `headers`: the extensions the producer added. */
export const expectDeliveredEvent = (m: Message<unknown>, event: ReturnType<typeof foreignEvent>, headers: Readonly<Record<string, string>> = {}): void => {
  expect({ id: m.id, routingKey: m.routingKey, timestamp: m.timestamp, key: m.key, contentType: m.contentType, payload: m.payload, headers: m.headers }).toEqual({
    id: event.id,
    routingKey: event.type,
    timestamp: Date.parse(event.time),
    key: event.subject,
    contentType: event.datacontenttype,
    payload: event.data,
    headers,
  })
}
