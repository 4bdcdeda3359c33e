import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { it as effectIt } from "@effect/vitest"
import { batchEntry, connect, defineEvent, defineRpc, schema, json } from "@omnibus/core"
import { Bus as BusService } from "@omnibus/core/effect"
import { spy } from "@omnibus/core/testing"
import "@omnibus/memory"
import { layer } from "@omnibus/memory/effect"

describe("connect", () => {
  it("rejects unknown schemes and bad URLs with a typed error, without leaking credentials", async () => {
    await expect(connect("ftp://user:secret@host")).rejects.toMatchObject({ _tag: "InvalidUrl" })
    const err: unknown = await connect("ftp://user:secret@host").catch((e: unknown) => e)
    expect(String((err as Error).message)).not.toContain("secret")
    await expect(connect("no-scheme")).rejects.toMatchObject({ _tag: "InvalidUrl" })
  })

  it("rejects invalid subscribe and publish options with typed errors naming the option", async () => {
    const bus = await connect("memory://options")
    await expect(bus.subscribe("a.*", () => undefined, { concurrency: 0 })).rejects.toMatchObject({ _tag: "InvalidOptions", option: "concurrency" })
    await expect(bus.subscribe("a.*", () => undefined, { group: "bad group" })).rejects.toMatchObject({ _tag: "InvalidOptions", option: "group" })
    await expect(bus.subscribe("a.*x", () => undefined)).rejects.toMatchObject({ _tag: "InvalidPattern", pattern: "a.*x" })
    await expect(bus.publish("a.b", 1, { headers: { "x-omnibus-id": "x" } })).rejects.toMatchObject({ _tag: "InvalidOptions" })
    await expect(bus.request("a.*", {})).rejects.toMatchObject({ _tag: "InvalidRoutingKey", key: "a.*" })
    await bus.close()
  })
})

describe("publish timestamp", () => {
  it("delivers the publisher's timestamp (a Date or epoch ms, also in a batch) and the publish time without one", async () => {
    const bus = await connect("memory://timestamp")
    const s = spy<{ n: number }>()
    await bus.subscribe("stamped.*", s.handler, { group: "timestamp" })
    const happened = new Date("2024-02-29T12:34:56.789Z")
    await bus.publish("stamped.date", { n: 1 }, { timestamp: happened })
    await bus.publish("stamped.ms", { n: 2 }, { timestamp: happened.getTime() - 1 })
    await bus.publishBatch([{ key: "stamped.batch", payload: { n: 3 }, options: { timestamp: happened.getTime() - 2 } }])
    const before = Date.now()
    await bus.publish("stamped.now", { n: 4 })
    const after = Date.now()
    await s.waitForCount(4)
    const at = (n: number) => s.messages.find((m) => m.payload.n === n)?.timestamp
    expect([at(1), at(2), at(3)]).toEqual([happened.getTime(), happened.getTime() - 1, happened.getTime() - 2])
    expect(at(4)).toBeGreaterThanOrEqual(before)
    expect(at(4)).toBeLessThanOrEqual(after)
    await bus.close()
  })
})

describe("typed contracts", () => {
  const Employee = Schema.Struct({ guid: Schema.String, firstName: Schema.String })
  const created = defineEvent("employee.created", schema(Employee))
  const search = defineRpc("employee.search", schema(Schema.Struct({ guid: Schema.String })), json)

  it("publish/subscribe and request/handle through contracts, with schema validation dead-lettering bad payloads", async () => {
    const bus = await connect("memory://contracts")
    const s = spy<typeof Employee.Type>()
    await bus.subscribe(created, s.handler, { group: "contracts", observe: s.observe })
    await bus.handle(search, async (req) => ({ found: req.payload.guid }))
    await bus.publish(created, { guid: "g1", firstName: "Ada" })
    await bus.publish("employee.created", { guid: 42 })
    await s.waitFor((m) => m.payload.guid === "g1")
    expect(await bus.request(search, { guid: "g1" })).toEqual({ found: "g1" })
    await expect.poll(() => bus.deadLetters.list("contracts").then((l) => l.length)).toBe(1)
    const [dead] = await bus.deadLetters.list("contracts")
    expect(dead?.failure.errorName).toBe("DecodeFailed")
    expect(dead?.failure.attempts).toBe(1)
    await bus.close()
  })
})

describe("typed batches", () => {
  const Employee = Schema.Struct({ guid: Schema.String, firstName: Schema.String })
  const created = defineEvent("employee.created", schema(Employee))

  it("publishBatch takes contracts per entry, encoded by the contract's codec, beside plain keys", async () => {
    const bus = await connect("memory://typed-batch")
    const s = spy<unknown>()
    await bus.subscribe("employee.*", s.handler, { group: "batch" })
    const results = await bus.publishBatch([
      batchEntry(created, { guid: "g1", firstName: "Ada" }),
      { key: "employee.note", payload: "plain json" },
      { key: created, payload: { guid: "g2", firstName: "Grace" }, options: { key: "g2" } },
    ])
    expect(results.map((r) => r.ok)).toEqual([true, true, true])
    await s.waitForCount(3)
    expect(s.messages.map((m) => [m.routingKey, m.contentType.split(";")[0], m.payload])).toEqual([
      ["employee.created", created.codec.contentType.split(";")[0], { guid: "g1", firstName: "Ada" }],
      ["employee.note", "application/json", "plain json"],
      ["employee.created", created.codec.contentType.split(";")[0], { guid: "g2", firstName: "Grace" }],
    ])
    // @ts-expect-error a contract entry's payload must fit the contract
    const wrong = batchEntry(created, { guid: 1 })
    expect(wrong.key).toBe(created)
    await bus.close()
  })
})

describe("Effect API", () => {
  effectIt.effect("the Bus service publishes and subscribes inside a scope", () =>
    Effect.gen(function* () {
      const bus = yield* BusService
      const seen: Array<string> = []
      let done!: () => void
      const got = new Promise<void>((r) => (done = r))
      yield* bus.subscribe("fx.*", (m) => Effect.sync(() => { seen.push(m.routingKey); done() }), { group: "fx" })
      yield* bus.publish("fx.one", { n: 1 })
      yield* Effect.promise(() => got)
      expect(seen).toEqual(["fx.one"])
      const err = yield* Effect.flip(bus.publish("fx..bad", 1))
      expect(err._tag).toBe("InvalidRoutingKey")
    }).pipe(Effect.scoped, Effect.provide(layer("memory://effect"))),
  )
})
