/**
 * Section A: delivery and routing (cases 1–7).
 */
import { randomBytes } from "node:crypto"
import { bytes, json, text } from "@omnibus/core"
import type { Codec, Message, Subscription } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase, namesKey, rejectionOf, sameBytes, safeJson } from "../context.ts"
import type { Suite } from "../context.ts"
import { Collector, delay, mapWindowed } from "../wait.ts"

const encoder = new TextEncoder()

export const registerDelivery = (suite: Suite): void => {
  // ---------------------------------------------------------------- case 1
  defineCase(suite, 1, async (ctx) => {
    const pub = await ctx.connect()
    const sub = await ctx.connect()
    const binGroup = ctx.group("bin")
    const typedGroup = ctx.group("typed")
    const bin = new Collector<Uint8Array>()
    const typed = new Collector()
    // Raw bytes: codec bytes on both sides, so the payload is the body.
    await sub.subscribe<Uint8Array>(ctx.key("bin", "#"), bin.handler, { group: binGroup, codec: bytes, concurrency: 4 })
    // No codec: decoded by each message's content type.
    await sub.subscribe(ctx.key("typed", "#"), typed.handler, { group: typedGroup, concurrency: 4 })

    const headers = { "x-greeting": "grüße ✓ 日本語 🚀", "x-quote": "\"a\" 'b' \\ / ;=,", "x-plain": "v1" }
    const mib = new Uint8Array(randomBytes(1024 * 1024))
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    const vendorJson: Codec<unknown> = { contentType: "application/vnd.omnibus-test+json", encode: json.encode, decode: json.decode }
    const opaque: Codec<Uint8Array> = { contentType: "application/x-omnibus-test", encode: (b) => b, decode: (b) => b }

    interface Sent {
      readonly key: string
      readonly id: string
      readonly body: Uint8Array
      readonly contentType: string
      readonly payload: unknown
      readonly partitionKey: string | undefined
      readonly correlationId: string | undefined
      /** The `timestamp` option, when given. */
      readonly timestamp: number | undefined
      readonly before: number
      readonly after: number
      readonly group: string
    }
    const sent: Array<Sent> = []
    const send = async (
      group: string,
      key: string,
      payload: unknown,
      codec: Codec<unknown>,
      options: { id?: string; key?: string; correlationId?: string; timestamp?: Date },
    ): Promise<void> => {
      const before = Date.now()
      const receipt = await pub.publish(key, payload, { ...options, headers, codec })
      const after = Date.now()
      if (options.id !== undefined) expect(receipt.id, "publish returns the id it was given").toBe(options.id)
      sent.push({
        key,
        id: receipt.id,
        body: codec.encode(payload),
        contentType: codec.contentType,
        payload,
        partitionKey: options.key,
        correlationId: options.correlationId,
        timestamp: options.timestamp?.getTime(),
        before,
        after,
        group,
      })
    }
    await send(binGroup, ctx.key("bin", "empty"), new Uint8Array(0), bytes as Codec<unknown>, { id: `${ctx.word("id")}-empty` })
    await send(binGroup, ctx.key("bin", "all"), allBytes, bytes as Codec<unknown>, { correlationId: "corr-ü-1", key: "order-42" })
    await send(binGroup, ctx.key("bin", "mib"), mib, bytes as Codec<unknown>, { id: `${ctx.word("id")}-mib`, correlationId: "corr-mib" })
    await send(typedGroup, ctx.key("typed", "json"), { a: 1, s: "ü ✓ 日本", n: [1, null, true], o: { x: -2.5 } }, json, { correlationId: "c-json", timestamp: new Date("2024-02-29T12:34:56.789Z") })
    await send(typedGroup, ctx.key("typed", "text"), "héllo ✓ 🚀\nline 2", text as Codec<unknown>, {})
    await send(typedGroup, ctx.key("typed", "vendor"), { vendor: true }, vendorJson, { key: "k:1" })
    await send(typedGroup, ctx.key("typed", "opaque"), encoder.encode("opaque ✓"), opaque as Codec<unknown>, {})
    await send(typedGroup, ctx.key("typed", "emptyjson"), null, json, {})

    await bin.waitForIds(sent.filter((s) => s.group === binGroup).map((s) => s.id), ctx.eventuallyMs, "bytes subscription")
    await typed.waitForIds(sent.filter((s) => s.group === typedGroup).map((s) => s.id), ctx.eventuallyMs, "typed subscription")

    for (const s of sent) {
      const m: Message<unknown> | undefined = (s.group === binGroup ? bin : typed).first(s.id)
      const label = `message ${s.key}`
      expect(m, label).toBeDefined()
      if (m === undefined) continue
      expect(m.routingKey, `${label}: routingKey`).toBe(s.key)
      expect(m.id, `${label}: id`).toBe(s.id)
      expect(m.contentType, `${label}: contentType`).toBe(s.contentType)
      expect(sameBytes(m.body, s.body), `${label}: body bytes (${m.body.byteLength} received, ${s.body.byteLength} sent)`).toBe(true)
      if (s.payload instanceof Uint8Array) {
        expect(m.payload instanceof Uint8Array, `${label}: payload is bytes`).toBe(true)
        expect(sameBytes(m.payload as Uint8Array, s.payload), `${label}: payload bytes`).toBe(true)
      } else {
        expect(m.payload, `${label}: payload`).toEqual(s.payload)
      }
      expect(m.headers, `${label}: headers`).toEqual(headers)
      expect(m.correlationId, `${label}: correlationId`).toBe(s.correlationId)
      expect(m.key, `${label}: key`).toBe(s.partitionKey)
      expect(m.attempt, `${label}: attempt`).toBe(1)
      expect(m.group, `${label}: group`).toBe(s.group)
      if (s.timestamp !== undefined) {
        // A timestamp the publisher gave (an outbox relaying an older event) arrives to the millisecond.
        expect(m.timestamp, `${label}: the given timestamp`).toBe(s.timestamp)
      } else {
        // The envelope timestamp is set at publish; 1 s of slack for brokers that store it with their own clock.
        expect(m.timestamp, `${label}: timestamp within the publish call`).toBeGreaterThanOrEqual(s.before - 1000)
        expect(m.timestamp, `${label}: timestamp within the publish call`).toBeLessThanOrEqual(s.after + 1000)
      }
    }
  })

  // ---------------------------------------------------------------- case 2
  defineCase(suite, 2, async (ctx) => {
    const pub = await ctx.connect()
    const subBus = await ctx.connect()
    // Unique words keep even "#"-prefixed patterns on this case's keys; foreign
    // messages reaching the "#" subscription are ignored by id.
    const U = ctx.word("u")
    const W = ctx.word("w")
    const K = {
      k1: `${U}.a.b.c`,
      k2: `${U}.a.b`,
      k3: `${U}.a`,
      k4: `${U}`,
      k5: `${U}.x.b.c`,
      k6: `${U}.a.x.c`,
      k7: `${U}.a.b.x`,
      k8: `${U}.a.b.c.d`,
      k9: `${U}.employee`,
      k10: `${U}.employee.new`,
      k11: `${U}.employee.new.hire`,
      k12: `${U}.employees`,
      k13: `x.${U}.end`,
      k14: `x.y.${U}.end`,
      k15: `${U}.end`,
      k16: `${U}.end.x`,
      k17: `${W}.a.b.c`,
      k18: `${U}.a.m.n.z`,
      k19: `${U}.a.z`,
      k20: `${U}.b.z`,
    } as const
    type KeyName = keyof typeof K
    const all = Object.keys(K) as Array<KeyName>
    // Expected sets written by hand from AMQP topic rules (not computed with core's matcher).
    const cases: ReadonlyArray<{ readonly name: string; readonly patterns: ReadonlyArray<string>; readonly expected: ReadonlyArray<KeyName> }> = [
      { name: "exact", patterns: [K.k1], expected: ["k1"] },
      { name: "star-first", patterns: ["*.a.b.c"], expected: ["k1", "k17"] },
      { name: "star-second", patterns: [`${U}.*.b.c`], expected: ["k1", "k5"] },
      { name: "star-third", patterns: [`${U}.a.*.c`], expected: ["k1", "k6"] },
      { name: "star-last", patterns: [`${U}.a.b.*`], expected: ["k1", "k7"] },
      { name: "star-two-words", patterns: [`${U}.*`], expected: ["k3", "k9", "k12", "k15"] },
      { name: "hash-start", patterns: [`#.${U}.end`], expected: ["k13", "k14", "k15"] },
      { name: "hash-middle", patterns: [`${U}.a.#.z`], expected: ["k18", "k19"] },
      { name: "hash-end", patterns: [`${U}.a.#`], expected: ["k1", "k2", "k3", "k6", "k7", "k8", "k18", "k19"] },
      { name: "hash-end-zero", patterns: [`${U}.#`], expected: all.filter((k) => !["k13", "k14", "k17"].includes(k)) },
      { name: "hash-alone", patterns: ["#"], expected: all },
      { name: "employee", patterns: [`${U}.employee.#`], expected: ["k9", "k10", "k11"] },
      { name: "multi", patterns: [`${U}.a.b`, `${U}.a.*`, `${U}.end.*`, "*.y.#"], expected: ["k2", "k19", "k16", "k14"] },
    ]
    const subs = await Promise.all(
      cases.map(async (c) => {
        const collector = new Collector()
        await subBus.subscribe(c.patterns, collector.handler, { group: ctx.group(c.name), concurrency: 4 })
        return { ...c, collector }
      }),
    )
    const keyOfId = new Map<string, KeyName>()
    // Sequential, each confirmed before the next: the sentinels below go last.
    for (const name of all) {
      const { id } = await pub.publish(K[name], { name })
      keyOfId.set(id, name)
    }
    // Sentinel per subscription: one of its expected keys again, with a new id.
    // Once it arrives, the messages published before it have had their chance.
    // (A broker that reorders a group's messages could let a stray arrive after
    // the sentinel; that can only hide a failure, never invent one.)
    const sentinels = new Set<string>()
    const sentinelOf = new Map<string, string>()
    for (const s of subs) {
      const { id } = await pub.publish(K[s.expected[0]!], { sentinel: s.name })
      sentinels.add(id)
      sentinelOf.set(s.name, id)
    }
    await Promise.all(
      subs.map((s) =>
        s.collector.waitForIds(
          [...s.expected.map((k) => [...keyOfId].find(([, n]) => n === k)![0]), sentinelOf.get(s.name)!],
          ctx.eventuallyMs,
          `subscription ${s.name} ${safeJson(s.patterns)}`,
        ),
      ),
    )
    for (const s of subs) {
      const ours = s.collector.messages.filter((m) => keyOfId.has(m.id))
      const got = [...new Set(ours.map((m) => keyOfId.get(m.id)!))].sort()
      expect(got, `${safeJson(s.patterns)} receives exactly the matching keys`).toEqual([...s.expected].sort())
      for (const m of ours) {
        expect(s.collector.count(m.id), `${safeJson(s.patterns)}: ${m.routingKey} delivered once`).toBe(1)
        expect(m.routingKey, "handler sees the concrete routing key").toBe(K[keyOfId.get(m.id)!])
      }
    }
  })

  // ---------------------------------------------------------------- case 3
  defineCase(suite, 3, async (ctx) => {
    const bus = await ctx.connect()
    const P = ctx.key()
    const collector = new Collector()
    await bus.subscribe(`${P}.#`, collector.handler, { group: ctx.group() })
    const badKeys = [
      "",
      `${P}..x`,
      `.${P}`,
      `${P}.`,
      `${P}.a b`,
      ` ${P}`,
      `${P}.a\tb`,
      `${P}.a\nb`,
      `${P}.*`,
      `${P}.#`,
      `${P}.a*`,
      `${P}.x/y`,
      `${P}.a>b`,
      `${P}.${"x".repeat(256)}`,
      // 260 bytes in 130 characters: the limit is in bytes
      `${P}.${"é".repeat(130)}`,
    ]
    for (const key of badKeys) {
      const err = await rejectionOf(bus.publish(key, { bad: true }), ["InvalidRoutingKey"], `publish(${safeJson(key)})`)
      expect(namesKey(err.message, key), `error message names the key: ${err.message}`).toBe(true)
    }
    const badPatterns = [
      "",
      `${P}..x`,
      `${P}.*x`,
      `${P}.x#`,
      `${P}.a b`,
      `${P}.#.`,
      `.${P}`,
      `${P}.x/y`,
      `${P}.a>`,
      `${P}.${"x".repeat(256)}`,
    ]
    const noop = (): void => undefined
    for (const pattern of badPatterns) {
      const err = await rejectionOf(bus.subscribe(pattern, noop, { group: ctx.group("bad") }), ["InvalidPattern"], `subscribe(${safeJson(pattern)})`)
      expect(namesKey(err.message, pattern), `error message names the pattern: ${err.message}`).toBe(true)
    }
    const mixed = await rejectionOf(
      bus.subscribe([`${P}.ok`, `${P}..bad`], noop, { group: ctx.group("mixed") }),
      ["InvalidPattern"],
      "subscribe with one bad pattern among good ones",
    )
    expect(namesKey(mixed.message, `${P}..bad`), `error names the bad pattern: ${mixed.message}`).toBe(true)
    for (const method of ["", `${P}.rpc..x`, `${P}.rpc.*`, `${P}.rpc.#`, `${P}.rpc x`]) {
      const err = await rejectionOf(bus.request(method, {}, { timeout: 1000 }), ["InvalidRoutingKey"], `request(${safeJson(method)})`)
      expect(namesKey(err.message, method), `error message names the method: ${err.message}`).toBe(true)
      await rejectionOf(bus.handle(method, () => "x"), ["InvalidRoutingKey", "InvalidPattern"], `handle(${safeJson(method)})`)
    }
    // Sentinel on the same subscription: anything sent despite a rejection would
    // have been published before it.
    const { id } = await bus.publish(`${P}.ok`, { sentinel: true })
    await collector.waitForIds([id], ctx.eventuallyMs, "sentinel")
    expect(collector.messages.map((m) => m.routingKey), "only the sentinel is delivered").toEqual([`${P}.ok`])
  })

  // ---------------------------------------------------------------- case 4
  defineCase(suite, 4, async (ctx) => {
    const pub = await ctx.connect()
    const subBus = await ctx.connect()
    const groups = Array.from({ length: 5 }, (_, i) => ({ group: ctx.group(`g${i}`), collector: new Collector() }))
    const subs = await Promise.all(groups.map((g) => subBus.subscribe(ctx.key("#"), g.collector.handler, { group: g.group, concurrency: 8 })))
    const receipts = await mapWindowed(1000, 200, (i) => pub.publish(ctx.key("e", i % 7), { i }))
    const ids = receipts.map((r) => r.id)
    await Promise.all(groups.map((g) => g.collector.waitForIds(ids, ctx.eventuallyMs, g.group)))
    // Closing drains the handlers, so the counts below are final for these consumers.
    await Promise.all(subs.map((s) => s.close()))
    for (const g of groups) {
      expect(g.collector.duplicates(), `${g.group}: duplicates`).toEqual([])
      expect(g.collector.total, `${g.group}: deliveries`).toBe(1000)
    }
  })

  // ---------------------------------------------------------------- case 5
  defineCase(suite, 5, async (ctx) => {
    const pub = await ctx.connect()
    const instances = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const bus = await ctx.connect()
        const collector = new Collector()
        let closed = false
        let lateCalls = 0
        const sub = await bus.subscribe(
          ctx.key("#"),
          (m) => {
            if (closed) lateCalls++
            collector.record(m)
          },
          { concurrency: 8 },
        )
        return { bus, collector, sub, markClosed: () => (closed = true), lateCalls: () => lateCalls }
      }),
    )
    const groups = instances.map((i) => i.sub.group)
    for (const g of groups) expect(typeof g === "string" && g.length > 0, `generated group name ${safeJson(g)}`).toBe(true)
    expect(new Set(groups).size, "each broadcast subscription has its own group").toBe(3)
    for (const g of groups) {
      // The probe must see the running subscription, or it could not prove the cleanup below.
      expect(await ctx.harness.residue(g), `harness.residue(${g}) while the subscription runs`).toBeGreaterThan(0)
    }
    const ids = (await mapWindowed(500, 100, (i) => pub.publish(ctx.key("b", i % 5), { i }))).map((r) => r.id)
    await Promise.all(instances.map((inst, n) => inst.collector.waitForIds(ids, ctx.eventuallyMs, `instance ${n}`)))

    // An observer that keeps running witnesses the messages published after the close.
    const observer = new Collector()
    const obsBus = await ctx.connect()
    await obsBus.subscribe(ctx.key("#"), observer.handler)
    await Promise.all(
      instances.map(async (inst) => {
        await inst.sub.close()
        inst.markClosed()
      }),
    )
    for (const [n, inst] of instances.entries()) {
      expect(inst.collector.duplicates(), `instance ${n}: duplicates`).toEqual([])
      expect(inst.collector.total, `instance ${n}: deliveries`).toBe(500)
    }
    for (const g of groups) {
      await ctx.eventually(async () => (await ctx.harness.residue(g)) === 0, `no broker objects left for ephemeral group ${g}`)
    }
    const later = (await mapWindowed(50, 50, (i) => pub.publish(ctx.key("after", i), { i }))).map((r) => r.id)
    await observer.waitForIds(later, ctx.eventuallyMs, "observer")
    for (const g of groups) {
      expect(await ctx.harness.residue(g), `residue of ${g} after more messages (nothing keeps growing)`).toBe(0)
    }
    for (const [n, inst] of instances.entries()) {
      expect(inst.lateCalls(), `instance ${n}: handler calls after close`).toBe(0)
    }
  })

  // ---------------------------------------------------------------- case 6
  defineCase(suite, 6, async (ctx) => {
    const pub = await ctx.connect()
    const group = ctx.group()
    const consumers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const bus = await ctx.connect()
        const collector = new Collector()
        const sub = await bus.subscribe(
          ctx.key("#"),
          async (m) => {
            collector.record(m)
            await delay(2) // simulated work, so that the load spreads
          },
          { group },
        )
        return { collector, sub }
      }),
    )
    const ids = (await mapWindowed(2000, 200, (i) => pub.publish(ctx.key("w", i % 9), { i }))).map((r) => r.id)
    await ctx.eventually(
      () => ids.every((id) => consumers.some((c) => c.collector.has(id))),
      () => `all 2,000 messages handled (${new Set(consumers.flatMap((c) => [...c.collector.ids()])).size} so far)`,
      ctx.eventuallyMs * 2,
    )
    await Promise.all(consumers.map((c) => c.sub.close()))
    const counts = new Map<string, number>()
    for (const c of consumers) for (const m of c.collector.messages) counts.set(m.id, (counts.get(m.id) ?? 0) + 1)
    const twice = [...counts].filter(([, n]) => n > 1)
    expect(twice.length, `messages handled more than once (e.g. ${safeJson(twice.slice(0, 3))})`).toBe(0)
    expect(counts.size).toBe(2000)
    for (const [n, c] of consumers.entries()) {
      expect(c.collector.total, `consumer ${n} handled at least one (shares: ${consumers.map((x) => x.collector.total).join("/")})`).toBeGreaterThan(0)
    }
  })

  // ---------------------------------------------------------------- case 7
  defineCase(suite, 7, async (ctx) => {
    const pub = await ctx.connect()
    const group = ctx.group()
    // Group subscription closed while messages are still flowing to it.
    const busA = await ctx.connect()
    const a = new Collector()
    let aClosed = false
    let aLate = 0
    const subA: Subscription = await busA.subscribe(
      ctx.key("g", "#"),
      async (m) => {
        if (aClosed) aLate++
        await delay(5)
        a.record(m)
      },
      { group, concurrency: 2 },
    )
    const first = (await mapWindowed(100, 100, (i) => pub.publish(ctx.key("g", "m"), { i }))).map((r) => r.id)
    await ctx.eventually(() => a.size >= 10, () => `consumer A handled 10 messages (${a.size})`)
    await subA.close()
    aClosed = true
    const handledByA = a.size
    const later = (await mapWindowed(20, 20, (i) => pub.publish(ctx.key("g", "later"), { i }))).map((r) => r.id)
    // The messages published after the close wait for the group: a new consumer gets them,
    // together with whatever A had not handled.
    const busB = await ctx.connect()
    const b = new Collector()
    await busB.subscribe(ctx.key("g", "#"), b.handler, { group, concurrency: 4 })
    await b.waitForIds(later, ctx.eventuallyMs, "new consumer of the group (messages published after close)")
    await ctx.eventually(
      () => first.every((id) => a.has(id) || b.has(id)),
      () => `every earlier message handled by A or B (${first.filter((id) => !a.has(id) && !b.has(id)).length} missing)`,
    )
    expect(aLate, "handler calls on A after close() resolved").toBe(0)
    expect(a.size, "A handled nothing after close").toBe(handledByA)

    // Broadcast subscription: an observer on the same pattern is the witness.
    // (Two ephemeral subscriptions share no queue, so no sentinel can be ordered
    // behind the closed one; the observer receiving everything is the best bound.)
    const busC = await ctx.connect()
    const c = new Collector()
    let cClosed = false
    let cLate = 0
    const subC = await busC.subscribe(ctx.key("b", "#"), (m) => {
      if (cClosed) cLate++
      c.record(m)
    })
    const observer = new Collector()
    await busC.subscribe(ctx.key("b", "#"), observer.handler)
    const before = (await mapWindowed(3, 3, (i) => pub.publish(ctx.key("b", "x"), { i }))).map((r) => r.id)
    await c.waitForIds(before, ctx.eventuallyMs, "broadcast subscription")
    await subC.close()
    cClosed = true
    const after = (await mapWindowed(20, 20, (i) => pub.publish(ctx.key("b", "y"), { i }))).map((r) => r.id)
    await observer.waitForIds([...before, ...after], ctx.eventuallyMs, "observer")
    expect(cLate, "broadcast handler calls after close() resolved").toBe(0)
    expect(c.size).toBe(3)
  })
}
