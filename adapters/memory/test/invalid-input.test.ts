/**
 * Invalid API input (docs/conformance.md, "Bad input and soak"): every public entry point (connect, publish,
 * publishBatch, subscribe, request, handle) answers bad routing keys, patterns,
 * options and URLs with a typed error (`_tag`) whose fields and message name
 * the problem, before anything is sent. One row per input; on the memory
 * adapter because core's tests cannot import adapters.
 */
import { connect } from "@omnibus/core"
import type { Bus, Message } from "@omnibus/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import "@omnibus/memory"

type Entry = "connect" | "publish" | "publishBatch" | "subscribe" | "request" | "handle"

interface Row {
  readonly entry: Entry
  readonly input: string
  readonly call: (bus: Bus) => Promise<unknown>
  /** Accepted `_tag`s (the first is the precise one; see the notes on the others). */
  readonly tags: ReadonlyArray<string>
  /** Fields the error must carry. */
  readonly fields?: Readonly<Record<string, unknown>>
  /** Text the message must contain (names the problem). */
  readonly names: string
}

const MAX = 1024
const h = () => undefined
const store = { claim: async () => "acquired" as const, complete: async () => undefined, release: async () => undefined }
/** publishBatch reports per entry: the row fails with the first entry's error. */
const firstEntryError = (bus: Bus, entries: Parameters<Bus["publishBatch"]>[0]) =>
  bus.publishBatch(entries).then((results) => {
    const r = results[0]!
    if (!r.ok) throw r.error
    return r
  })
const closing = (b: Bus) => b.close()

const ROWS: ReadonlyArray<Row> = [
  // connect: URLs and transport options
  { entry: "connect", input: "empty URL", call: () => connect(""), tags: ["InvalidUrl"], names: "empty" },
  { entry: "connect", input: "URL without scheme", call: () => connect("no-scheme"), tags: ["InvalidUrl"], names: "no scheme" },
  { entry: "connect", input: "unknown scheme (credentials redacted)", call: () => connect("ftp://user:secret@host"), tags: ["InvalidUrl"], names: `scheme "ftp:"` },
  { entry: "connect", input: "maxPayloadBytes -1", call: () => connect("memory://invalid-input", { maxPayloadBytes: -1 }).then(closing), tags: ["InvalidOptions"], fields: { option: "maxPayloadBytes" }, names: "positive" },
  { entry: "connect", input: "maxPayloadBytes not a number", call: () => connect("memory://invalid-input", { maxPayloadBytes: "big" as never }).then(closing), tags: ["InvalidOptions"], fields: { option: "maxPayloadBytes" }, names: "big" },
  { entry: "connect", input: "leaseMs 0", call: () => connect("memory://invalid-input", { leaseMs: 0 }).then(closing), tags: ["InvalidOptions"], fields: { option: "leaseMs" }, names: "positive" },

  // publish: routing keys
  { entry: "publish", input: "empty key", call: (b) => b.publish("", 1), tags: ["InvalidRoutingKey"], fields: { key: "" }, names: "is empty" },
  { entry: "publish", input: "empty word", call: (b) => b.publish("a..b", 1), tags: ["InvalidRoutingKey"], fields: { key: "a..b" }, names: `"a..b"` },
  { entry: "publish", input: "* in a publish key", call: (b) => b.publish("a.*", 1), tags: ["InvalidRoutingKey"], fields: { key: "a.*" }, names: "wildcard" },
  { entry: "publish", input: "# in a publish key", call: (b) => b.publish("a.#", 1), tags: ["InvalidRoutingKey"], fields: { key: "a.#" }, names: "wildcard" },
  { entry: "publish", input: "whitespace", call: (b) => b.publish("a b", 1), tags: ["InvalidRoutingKey"], fields: { key: "a b" }, names: "whitespace" },
  { entry: "publish", input: "over 255 bytes", call: (b) => b.publish("k".repeat(256), 1), tags: ["InvalidRoutingKey"], names: "255 bytes" },
  { entry: "publish", input: "character outside the word set", call: (b) => b.publish("a.b!", 1), tags: ["InvalidRoutingKey"], fields: { key: "a.b!" }, names: `"b!"` },
  { entry: "publish", input: "key not a string", call: (b) => b.publish(42 as never, 1), tags: ["InvalidRoutingKey"], names: "not a string" },
  // publish: options and payload
  { entry: "publish", input: "empty ordering key", call: (b) => b.publish("a.b", 1, { key: "" }), tags: ["InvalidOptions"], fields: { option: "key" }, names: "non-empty" },
  { entry: "publish", input: "reserved header name", call: (b) => b.publish("a.b", 1, { headers: { "x-omnibus-id": "x" } }), tags: ["InvalidOptions"], fields: { option: "headers.x-omnibus-id" }, names: "reserved" },
  { entry: "publish", input: "header value not a string", call: (b) => b.publish("a.b", 1, { headers: { n: 1 as never } }), tags: ["InvalidOptions"], fields: { option: "headers.n" }, names: "strings" },
  { entry: "publish", input: "invalid Date as timestamp", call: (b) => b.publish("a.b", 1, { timestamp: new Date("not a date") }), tags: ["InvalidOptions"], fields: { option: "timestamp" }, names: "valid Date" },
  { entry: "publish", input: "timestamp not an integer", call: (b) => b.publish("a.b", 1, { timestamp: 1.5 }), tags: ["InvalidOptions"], fields: { option: "timestamp" }, names: "positive integer" },
  { entry: "publish", input: "timestamp 0", call: (b) => b.publish("a.b", 1, { timestamp: 0 }), tags: ["InvalidOptions"], fields: { option: "timestamp" }, names: "positive integer" },
  { entry: "publish", input: "timestamp as a string", call: (b) => b.publish("a.b", 1, { timestamp: "2024-01-01" as never }), tags: ["InvalidOptions"], fields: { option: "timestamp" }, names: "milliseconds" },
  { entry: "publish", input: "payload over maxPayloadBytes", call: (b) => b.publish("a.big", "x".repeat(MAX)), tags: ["PayloadTooLarge"], fields: { key: "a.big", size: MAX + 2, max: MAX }, names: "over the maximum" },
  { entry: "publish", input: "payload the codec cannot encode", call: (b) => b.publish("a.b", 1n), tags: ["PublishFailed"], fields: { key: "a.b" }, names: "BigInt" },

  // publishBatch: one result per entry, the invalid ones typed
  { entry: "publishBatch", input: "entry with an empty word", call: (b) => firstEntryError(b, [{ key: "a..b", payload: 1 }]), tags: ["InvalidRoutingKey"], fields: { key: "a..b" }, names: "empty word" },
  { entry: "publishBatch", input: "entry over maxPayloadBytes", call: (b) => firstEntryError(b, [{ key: "a.big", payload: "x".repeat(MAX) }]), tags: ["PayloadTooLarge"], fields: { key: "a.big", max: MAX }, names: "over the maximum" },
  { entry: "publishBatch", input: "entry with a reserved header", call: (b) => firstEntryError(b, [{ key: "a.b", payload: 1, options: { headers: { "x-omnibus-key": "k" } } }]), tags: ["InvalidOptions"], fields: { option: "headers.x-omnibus-key" }, names: "reserved" },

  // subscribe: patterns
  { entry: "subscribe", input: "no pattern", call: (b) => b.subscribe([], h), tags: ["InvalidPattern"], names: "no pattern" },
  { entry: "subscribe", input: "partial-word wildcard", call: (b) => b.subscribe("a.*x", h), tags: ["InvalidPattern"], fields: { pattern: "a.*x" }, names: "whole word" },
  { entry: "subscribe", input: "empty word", call: (b) => b.subscribe("a..b", h), tags: ["InvalidPattern"], fields: { pattern: "a..b" }, names: "empty word" },
  { entry: "subscribe", input: "empty pattern", call: (b) => b.subscribe("", h), tags: ["InvalidPattern"], fields: { pattern: "" }, names: "is empty" },
  { entry: "subscribe", input: "whitespace", call: (b) => b.subscribe("a. b", h), tags: ["InvalidPattern"], fields: { pattern: "a. b" }, names: "whitespace" },
  { entry: "subscribe", input: "one bad pattern among good ones", call: (b) => b.subscribe(["a.b", "c..d"], h), tags: ["InvalidPattern"], fields: { pattern: "c..d" }, names: `"c..d"` },
  // subscribe: options
  { entry: "subscribe", input: "group with whitespace", call: (b) => b.subscribe("a.b", h, { group: "bad group" }), tags: ["InvalidOptions"], fields: { option: "group" }, names: "whitespace" },
  { entry: "subscribe", input: "empty group", call: (b) => b.subscribe("a.b", h, { group: "" }), tags: ["InvalidOptions"], fields: { option: "group" }, names: "empty" },
  { entry: "subscribe", input: "group not a string", call: (b) => b.subscribe("a.b", h, { group: 42 as never }), tags: ["InvalidOptions"], fields: { option: "group" }, names: "not a string" },
  { entry: "subscribe", input: "concurrency 0", call: (b) => b.subscribe("a.b", h, { concurrency: 0 }), tags: ["InvalidOptions"], fields: { option: "concurrency" }, names: ">= 1" },
  { entry: "subscribe", input: "concurrency 1.5", call: (b) => b.subscribe("a.b", h, { concurrency: 1.5 }), tags: ["InvalidOptions"], fields: { option: "concurrency" }, names: "integer" },
  { entry: "subscribe", input: "concurrency NaN", call: (b) => b.subscribe("a.b", h, { concurrency: Number.NaN }), tags: ["InvalidOptions"], fields: { option: "concurrency" }, names: "NaN" },
  { entry: "subscribe", input: "prefetch 0", call: (b) => b.subscribe("a.b", h, { prefetch: 0 }), tags: ["InvalidOptions"], fields: { option: "prefetch" }, names: ">= 1" },
  { entry: "subscribe", input: "prefetch below concurrency", call: (b) => b.subscribe("a.b", h, { concurrency: 4, prefetch: 2 }), tags: ["InvalidOptions"], fields: { option: "prefetch" }, names: "concurrency" },
  { entry: "subscribe", input: "retry.attempts 0", call: (b) => b.subscribe("a.b", h, { retry: { attempts: 0 } }), tags: ["InvalidOptions"], fields: { option: "retry.attempts" }, names: ">= 1" },
  { entry: "subscribe", input: "backoff factor below 1", call: (b) => b.subscribe("a.b", h, { retry: { backoff: { factor: 0.5 } } }), tags: ["InvalidOptions"], fields: { option: "retry.backoff.factor" }, names: ">= 1" },
  { entry: "subscribe", input: "backoff initial not a duration", call: (b) => b.subscribe("a.b", h, { retry: { backoff: { initial: "soon" as never } } }), tags: ["InvalidOptions"], fields: { option: "retry.backoff.initial" }, names: "not a duration" },
  { entry: "subscribe", input: "negative backoff max", call: (b) => b.subscribe("a.b", h, { retry: { backoff: { max: -1 } } }), tags: ["InvalidOptions"], fields: { option: "retry.backoff.max" }, names: "negative" },
  { entry: "subscribe", input: "orderBy other than key", call: (b) => b.subscribe("a.b", h, { orderBy: "id" as never }), tags: ["InvalidOptions"], fields: { option: "orderBy" }, names: `"key"` },
  { entry: "subscribe", input: "idempotency ttl not a duration", call: (b) => b.subscribe("a.b", h, { idempotency: { store, ttl: "bogus" as never } }), tags: ["InvalidOptions"], fields: { option: "idempotency.ttl" }, names: "not a duration" },
  { entry: "subscribe", input: "negative idempotency lease", call: (b) => b.subscribe("a.b", h, { idempotency: { store, lease: -1 } }), tags: ["InvalidOptions"], fields: { option: "idempotency.lease" }, names: "negative" },

  // request: method names, options, payload. Option and size problems currently arrive as PublishFailed
  // wrapping the precise error's message (core: bus.ts requestReply); the precise tag is listed first.
  { entry: "request", input: "wildcard method", call: (b) => b.request("a.*", 1), tags: ["InvalidRoutingKey"], fields: { key: "a.*" }, names: "wildcard" },
  { entry: "request", input: "empty method", call: (b) => b.request("", 1), tags: ["InvalidRoutingKey"], fields: { key: "" }, names: "is empty" },
  { entry: "request", input: "empty word", call: (b) => b.request("a..b", 1), tags: ["InvalidRoutingKey"], fields: { key: "a..b" }, names: "empty word" },
  { entry: "request", input: "timeout not a duration", call: (b) => b.request("a.b", 1, { timeout: "bogus" as never }), tags: ["InvalidOptions"], names: "option timeout" },
  { entry: "request", input: "negative timeout", call: (b) => b.request("a.b", 1, { timeout: -5 }), tags: ["InvalidOptions"], names: "option timeout" },
  { entry: "request", input: "reserved header", call: (b) => b.request("a.b", 1, { headers: { "x-omnibus-id": "x" } }), tags: ["InvalidOptions"], names: "headers.x-omnibus-id" },
  { entry: "request", input: "payload over maxPayloadBytes", call: (b) => b.request("a.big", "x".repeat(MAX)), tags: ["PayloadTooLarge"], names: `is ${MAX + 2} bytes, over the maximum of ${MAX}` },

  // handle: method names and options (a bad method is reported as a pattern: it is what the server subscribes)
  { entry: "handle", input: "wildcard method", call: (b) => b.handle("a.*", h), tags: ["InvalidRoutingKey"], names: `"a.*"` },
  { entry: "handle", input: "empty method", call: (b) => b.handle("", h), tags: ["InvalidRoutingKey"], names: "is empty" },
  { entry: "handle", input: "empty word", call: (b) => b.handle("a..b", h), tags: ["InvalidRoutingKey"], names: `"a..b"` },
  { entry: "handle", input: "group with whitespace", call: (b) => b.handle("a.b", h, { group: "bad group" }), tags: ["InvalidOptions"], fields: { option: "group" }, names: "whitespace" },
  { entry: "handle", input: "concurrency 0", call: (b) => b.handle("a.b", h, { concurrency: 0 }), tags: ["InvalidOptions"], fields: { option: "concurrency" }, names: ">= 1" },
]

describe("invalid API input gets a typed error naming the problem, and nothing is sent", () => {
  let bus: Bus
  const seen: Array<Message<unknown>> = []
  beforeAll(async () => {
    bus = await connect("memory://invalid-input", { maxPayloadBytes: MAX })
    // Everything anything above could have sent would arrive here.
    await bus.subscribe("#", (m) => { seen.push(m) }, { group: "invalid-input-watch" })
  })
  afterAll(async () => {
    await bus.close()
  })

  it("covers every public entry point", () => {
    const covered = new Set(ROWS.map((r) => r.entry))
    expect([...covered].sort()).toEqual(["connect", "handle", "publish", "publishBatch", "request", "subscribe"])
  })

  it.each(ROWS.map((r) => [`${r.entry}: ${r.input}`, r] as const))("%s", async (_, row) => {
    let outcome: unknown
    let rejected = false
    try {
      outcome = await row.call(bus)
    } catch (e) {
      rejected = true
      outcome = e
    }
    expect(rejected, `${row.entry} (${row.input}) should reject, resolved with ${String(outcome)}`).toBe(true)
    const e = outcome as { readonly _tag?: unknown; readonly message?: unknown }
    expect(typeof e._tag, `untyped error: ${String(outcome)}`).toBe("string")
    expect(row.tags).toContain(e._tag)
    expect(e).toBeInstanceOf(Error)
    if (row.fields) expect(e).toMatchObject(row.fields)
    expect(String(e.message)).toContain(row.names)
    expect(String(e.message), "credentials in an error message").not.toContain("secret")
  })

  it("sent nothing: only a sentinel published afterwards arrives", async () => {
    const { id } = await bus.publish("invalid-input.sentinel", { sentinel: true })
    await expect.poll(() => seen.some((m) => m.id === id)).toBe(true)
    expect(seen.map((m) => m.routingKey)).toEqual(["invalid-input.sentinel"])
  })

  it("a batch delivers its valid entries next to the rejected ones", async () => {
    const results = await bus.publishBatch([
      { key: "a..b", payload: 1 },
      { key: "invalid-input.batch", payload: { ok: true } },
      { key: "a.big", payload: "x".repeat(MAX) },
    ])
    expect(results.map((r) => (r.ok ? "ok" : r.error._tag))).toEqual(["InvalidRoutingKey", "ok", "PayloadTooLarge"])
    const okId = results[1]!.ok ? results[1]!.id : ""
    await expect.poll(() => seen.some((m) => m.id === okId)).toBe(true)
  })
})
