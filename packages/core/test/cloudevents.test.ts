import { describe, expect, it } from "vitest"
import { cloudEventHeaders, cloudEventsSettings, defaultCloudEventsSource, readCloudEventHeaders, type CloudEventsBinding } from "../src/cloudevents.ts"
import type { Envelope } from "../src/envelope.ts"
import { InvalidOptions } from "../src/errors.ts"
import { fromWireHeaders, toWireHeaders, Wire } from "../src/wire.ts"

const envelope = (over: Partial<Envelope> = {}): Envelope => ({
  id: "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
  routingKey: "employee.created",
  key: "emp-7",
  payload: new Uint8Array([123, 125]),
  contentType: "application/json",
  headers: { tenant: "acme" },
  correlationId: undefined,
  replyTo: undefined,
  timestamp: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
  ...over,
})

const settings = { source: "omnibus://test/events" }

describe("cloudEventHeaders", () => {
  it("maps id, source, type, time and subject with each binding's prefix", () => {
    const common = (p: string) => ({
      [`${p}specversion`]: "1.0",
      [`${p}id`]: "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
      [`${p}source`]: "omnibus://test/events",
      [`${p}type`]: "employee.created",
      [`${p}time`]: "2026-01-02T03:04:05.678Z",
      [`${p}subject`]: "emp-7",
    })
    // AMQP carries datacontenttype in the content-type property, Kafka and HTTP in the content-type header.
    expect(cloudEventHeaders(envelope(), "amqp", settings)).toEqual(common("cloudEvents_"))
    expect(cloudEventHeaders(envelope(), "kafka", settings)).toEqual(common("ce_"))
    expect(cloudEventHeaders(envelope(), "http", settings)).toEqual(common("ce-"))
    expect(cloudEventHeaders(envelope(), "nats", settings)).toEqual({ ...common("ce-"), "ce-datacontenttype": "application/json" })
  })

  it("leaves subject out without a key", () => {
    expect(Object.keys(cloudEventHeaders(envelope({ key: undefined }), "kafka", settings))).not.toContain("ce_subject")
  })

  it("percent-encodes NATS and HTTP values (space, quote, percent, non-ASCII) and nothing on Kafka", () => {
    const e = envelope({ key: 'a "b" 100% €😀', contentType: "application/protobuf; messageType=x.Y" })
    expect(cloudEventHeaders(e, "nats", settings)["ce-subject"]).toBe("a%20%22b%22%20100%25%20%E2%82%AC%F0%9F%98%80")
    expect(cloudEventHeaders(e, "nats", settings)["ce-datacontenttype"]).toBe("application/protobuf;%20messageType=x.Y")
    expect(cloudEventHeaders(e, "http", settings)["ce-subject"]).toBe("a%20%22b%22%20100%25%20%E2%82%AC%F0%9F%98%80")
    expect(cloudEventHeaders(e, "kafka", settings)["ce_subject"]).toBe('a "b" 100% €😀')
  })
})

describe("readCloudEventHeaders", () => {
  const bindings: ReadonlyArray<CloudEventsBinding> = ["amqp", "kafka", "nats", "http"]

  it.each(bindings)("%s: Omnibus' own copies leave the headers, the envelope is unchanged", (binding) => {
    const e = envelope({ key: 'a "b" 100% €' })
    const wire = { ...toWireHeaders(e), ...cloudEventHeaders(e, binding, settings) }
    const back = fromWireHeaders(readCloudEventHeaders(wire, binding), e.payload, { id: "x", routingKey: "x" })
    expect(back).toEqual(e)
  })

  it.each(bindings)("%s: a foreign CloudEvent's attributes become the envelope's", (binding) => {
    const e = envelope({ headers: {} })
    const foreign = { ...cloudEventHeaders(e, binding, settings), [Wire.contentType]: "application/json", "ce-traceparent": "00-abc-def-01" }
    const back = fromWireHeaders(readCloudEventHeaders(foreign, binding), e.payload, { id: "broker-seq-1", routingKey: "address" })
    expect(back).toEqual({ ...e, headers: { "ce-traceparent": "00-abc-def-01" } })
  })

  it("reads names case-insensitively, AMQP's ':' separator, quoted and percent-encoded values", () => {
    const amqp = readCloudEventHeaders({ "cloudEvents:id": "a-1", "cloudEvents:type": "t.x", "cloudEvents:time": "2026-01-02T03:04:05Z" }, "amqp")
    expect(amqp).toEqual({ [Wire.id]: "a-1", [Wire.routingKey]: "t.x", [Wire.timestamp]: String(Date.UTC(2026, 0, 2, 3, 4, 5)) })
    const nats = readCloudEventHeaders({ "Ce-Id": '"quoted id"', "CE-SUBJECT": "caf%C3%A9", "ce-datacontenttype": "text/plain;%20charset=utf-8" }, "nats")
    expect(nats).toEqual({ [Wire.id]: "quoted id", [Wire.key]: "café", [Wire.contentType]: "text/plain; charset=utf-8" })
  })

  it("keeps Omnibus' own header over the attribute, and drops what it cannot read", () => {
    const h = readCloudEventHeaders({ [Wire.id]: "own", ce_id: "theirs", ce_time: "not a time", "ce-id": "other binding" }, "kafka")
    expect(h).toEqual({ [Wire.id]: "own", "ce-id": "other binding" })
    expect(readCloudEventHeaders({ "ce-subject": "%C0%A0" }, "http")).toEqual({})
  })

  it("leaves the headers it was given unchanged: attributes are read into a copy", () => {
    const given = { "ce-id": "a-1", "ce-type": "t.x", "ce-specversion": "1.0", extension: "kept" }
    const read = readCloudEventHeaders(given, "http")
    expect(read).toEqual({ [Wire.id]: "a-1", [Wire.routingKey]: "t.x", extension: "kept" })
    expect(given).toEqual({ "ce-id": "a-1", "ce-type": "t.x", "ce-specversion": "1.0", extension: "kept" })
  })

  it("returns headers without attributes as they are", () => {
    const h = { a: "1", cookie: "c" }
    expect(readCloudEventHeaders(h, "http")).toBe(h)
    expect(h).toEqual({ a: "1", cookie: "c" })
  })
})

describe("cloudEventsSettings", () => {
  it("is off unless asked, on with the default or a configured source", () => {
    expect(cloudEventsSettings({}, "omnibus://x/y")).toBeUndefined()
    expect(cloudEventsSettings({ cloudEvents: false }, "omnibus://x/y")).toBeUndefined()
    expect(cloudEventsSettings({ cloudEvents: "false" }, "omnibus://x/y")).toBeUndefined()
    expect(cloudEventsSettings({ cloudEvents: true }, "omnibus://x/y")).toEqual({ source: "omnibus://x/y" })
    expect(cloudEventsSettings({ cloudEvents: "true", cloudEventsSource: "/hr/employees" }, "omnibus://x/y")).toEqual({ source: "/hr/employees" })
  })

  it("refuses anything else", () => {
    expect(() => cloudEventsSettings({ cloudEvents: "yes" }, "s")).toThrow(InvalidOptions)
    expect(() => cloudEventsSettings({ cloudEvents: true, cloudEventsSource: "" }, "s")).toThrow(InvalidOptions)
    expect(() => cloudEventsSettings({ cloudEvents: true, cloudEventsSource: 3 }, "s")).toThrow(InvalidOptions)
  })

  it("names the adapter and the destination in the default source", () => {
    expect(defaultCloudEventsSource("rabbitmq", "my events")).toBe("omnibus://rabbitmq/my%20events")
  })
})
