/**
 * Bad input (docs/conformance.md, "Bad input and soak"): what non-Omnibus
 * producers can put on a group's subscription must never crash a consumer,
 * block a group or get lost.
 *
 *   describeBadInput("rabbitmq", { connect, writeRaw, cleanup })
 *
 * 1,000 malformed messages, written with the broker's own client (no Omnibus),
 * interleaved with 1,000 valid ones on two contracts (protobuf and JSON):
 * random bytes on the protobuf contract (with and without a content type), a wrong content type,
 * invalid JSON and JSON of the wrong shape on the JSON contract, messages
 * without any Omnibus header (no id, timestamp, routing key, content type),
 * headers over core's MAX_HEADER_BYTES and payloads over the bus's
 * `maxPayloadBytes`. Then:
 * - every valid message is handled, exactly the valid ids, once each;
 * - every malformed one is in `bus.deadLetters.list(group)` with
 *   failure.errorName "DecodeFailed", attempts 1, and a message naming the problem;
 * - the consumers are alive afterwards (a message published then is handled);
 * - heap growth after warm-up stays under HEAP_GROWTH_LIMIT (never a timing).
 *
 * Results go to conformance/results/bad-input/<name>.json (outside the
 * guarantees table), with the counts and memory figures as metrics.
 */
import { randomBytes } from "node:crypto"
import { json } from "@omnibus/core"
import { DecodeFailed, MAX_HEADER_BYTES, newMessageId, Wire } from "@omnibus/core/adapter"
import type { Bus, Codec, DeadLetterRecord, Message } from "@omnibus/core"
import { afterAll, describe, expect, it } from "vitest"
import { parseProto, protobufCodec } from "@omnibus/protobuf"
import type { SectionId } from "./cases.ts"
import { MemorySampler, MiB, mib } from "./memory.ts"
import { ResultRecorder, resultsDir, writeResults } from "./results.ts"
import { errorText, eventually } from "./wait.ts"

/** A message as the broker's own client writes it. */
export interface RawMessage {
  /** The group whose subscription must receive it (for brokers written per group, e.g. Redis XADD). */
  readonly group: string
  /** The routing key it is published under (exchange routing key, `events.<key>` subject, ...). */
  readonly routingKey: string
  readonly payload: Uint8Array
  /** Broker headers as they are (core's Wire layout for "Omnibus" headers, anything for foreign ones). */
  readonly headers?: Readonly<Record<string, string>>
  /** The broker's content-type property/header; undefined = none at all. */
  readonly contentType?: string | undefined
}

export interface BadInputHarness {
  /** Opens a bus on the broker under test with these options. */
  connect(options: { readonly maxPayloadBytes: number }): Promise<Bus>
  /**
   * Writes the messages in order with the broker's own client (amqplib, nats.js,
   * ioredis, kafkajs; no Omnibus code) and resolves once the broker accepted all
   * of them. The groups exist (their subscriptions are open) when it is called.
   */
  writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void>
  /** Closes the raw client(s) and deletes the groups' broker state. */
  cleanup?(groups: ReadonlyArray<string>): Promise<void>
  /** Bound of the waits (default 20_000; Kafka may pass more for rebalances). */
  readonly eventuallyMs?: number
  /**
   * Categories the broker itself refuses at write time (category -> one-line reason), e.g.
   * JetStream's 64 KiB header limit. The suite proves the refusal (writeRaw of one such
   * message must reject) and spreads the 1,000 malformed messages over the other categories.
   */
  readonly refuses?: Partial<Record<BadInputCategory, string>>
}

/** Core's MAX_HEADER_BYTES (packages/core/src/wire.ts). */
export const CORE_MAX_HEADER_BYTES = MAX_HEADER_BYTES
/** The bus under test is connected with this maxPayloadBytes. */
export const BAD_INPUT_MAX_PAYLOAD = 64 * 1024
/** Generous bound on heap growth after warm-up (never a timing). */
export const HEAP_GROWTH_LIMIT = 64 * MiB

export const BAD_INPUT_CASE = {
  id: 101,
  section: "D" as SectionId,
  title: "bad input: 1,000 malformed raw messages among 1,000 valid ones are dead-lettered; consumers stay alive, memory bounded",
}

const MALFORMED = 1_000
const VALID = 1_000
const CHUNK = 100

export type BadInputCategory =
  | "protobuf-random-bytes"
  | "protobuf-wrong-content-type"
  | "protobuf-missing-content-type"
  | "json-invalid"
  | "json-wrong-shape"
  | "no-omnibus-headers"
  | "oversized-headers"
  | "oversized-payload"

export const BAD_INPUT_CATEGORIES: ReadonlyArray<BadInputCategory> = [
  "protobuf-random-bytes",
  "protobuf-wrong-content-type",
  "protobuf-missing-content-type",
  "json-invalid",
  "json-wrong-shape",
  "no-omnibus-headers",
  "oversized-headers",
  "oversized-payload",
]

/** The user header that identifies a malformed message in the dead letters (it has no reliable id). */
const MARK = "bad-input"

export interface Employee {
  readonly guid: string
  readonly firstName: string
  readonly lastName: string
  readonly seq: number
}

const encoder = new TextEncoder()

/** The JSON contract: core's json codec plus a shape check, as a schema codec would do. */
const employeeJson: Codec<Employee> = {
  contentType: json.contentType,
  encode: (value) => json.encode(value),
  decode: (bytes) => {
    const v = json.decode(bytes) as Partial<Employee> | null
    const problem =
      typeof v !== "object" || v === null ? "expected an object"
        : typeof v.guid !== "string" ? "guid must be a string"
          : typeof v.firstName !== "string" ? "firstName must be a string"
            : typeof v.lastName !== "string" ? "lastName must be a string"
              : typeof v.seq !== "number" ? "seq must be a number"
                : undefined
    if (problem !== undefined) throw new DecodeFailed({ contentType: json.contentType, reason: `not an Employee: ${problem}` })
    return v as Employee
  },
}

/**
 * The protobuf contract of the bad-input and foreign-producer cases. Inline, not a
 * .proto file beside the module: the installed suite ships dist/ only.
 */
const EMPLOYEE_PROTO = `
syntax = "proto3";
package omnibus.badinput;
message Employee {
  string guid = 1;
  string first_name = 2;
  string last_name = 3;
  int32 seq = 4;
}
`
export const employeeProto = protobufCodec<Employee>(parseProto(EMPLOYEE_PROTO).lookupType("omnibus.badinput.Employee"))
const PROTO_BASE = employeeProto.contentType.split(";")[0]!.trim()

/** Random bytes that the protobuf codec rejects (a rare random buffer is a valid message: drawn again). */
const randomNonProtobuf = (): Uint8Array => {
  for (;;) {
    const bytes = new Uint8Array(randomBytes(8 + Math.floor(Math.random() * 120)))
    try {
      employeeProto.decode(bytes)
    } catch {
      return bytes
    }
  }
}

/** Invalid JSON: truncated objects, stray bytes, invalid UTF-8. */
const invalidJson = (n: number): Uint8Array => {
  switch (n % 4) {
    case 0: return encoder.encode(`{"guid": "g-${n}", "firstName": "Ada"`)
    case 1: return encoder.encode(`{guid: ${n}}`)
    case 2: return new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) // {"<invalid utf-8>":1}
    default: return encoder.encode(`not json ${n} ${randomBytes(8).toString("hex")}`)
  }
}

/** What the dead letter's failure.error must say for each category. */
const EXPECTED_REASON: Readonly<Record<BadInputCategory, RegExp>> = {
  "protobuf-random-bytes": new RegExp(`cannot decode ${PROTO_BASE.replace(/[/+.]/g, "\\$&")}`),
  "protobuf-wrong-content-type": new RegExp(`expects ${PROTO_BASE.replace(/[/+.]/g, "\\$&")}`),
  "protobuf-missing-content-type": new RegExp(`cannot decode ${PROTO_BASE.replace(/[/+.]/g, "\\$&")}`),
  "json-invalid": /cannot decode application\/json payload: .*(JSON|json|token|encoded data|position)/,
  "json-wrong-shape": /not an Employee: guid must be a string/,
  "no-omnibus-headers": /expects application\/json/,
  "oversized-headers": new RegExp(`headers of \\d+ bytes are over the maximum of ${CORE_MAX_HEADER_BYTES}`),
  "oversized-payload": new RegExp(`payload of \\d+ bytes is over the maximum of ${BAD_INPUT_MAX_PAYLOAD}`),
}

interface Plan {
  readonly message: RawMessage
  /** Valid: the id the handler must see. */
  readonly validId?: string
  /** Malformed: its mark and category. */
  readonly mark?: string
  readonly category?: BadInputCategory
}

interface Names {
  readonly protoGroup: string
  readonly jsonGroup: string
  readonly protoKey: string
  readonly jsonKey: string
}

const omnibusHeaders = (id: string, routingKey: string, contentType: string | undefined): Record<string, string> => {
  const h: Record<string, string> = { [Wire.id]: id, [Wire.routingKey]: routingKey, [Wire.timestamp]: String(Date.now()) }
  if (contentType !== undefined) h[Wire.contentType] = contentType
  return h
}

const employee = (seq: number): Employee => ({ guid: `guid-${seq}`, firstName: "Ada", lastName: `Lovelace-${seq}`, seq })

const validMessage = (n: Names, seq: number): Plan => {
  const id = newMessageId()
  const proto = seq % 2 === 0
  const [group, routingKey, codec] = proto ? [n.protoGroup, n.protoKey, employeeProto] : [n.jsonGroup, n.jsonKey, employeeJson]
  return {
    validId: id,
    message: { group, routingKey, payload: codec.encode(employee(seq)), contentType: codec.contentType, headers: omnibusHeaders(id, routingKey, codec.contentType) },
  }
}

const malformedMessage = (n: Names, seq: number, categories: ReadonlyArray<BadInputCategory>): Plan => {
  const category = categories[seq % categories.length]!
  const mark = `${category}:${seq}`
  const id = newMessageId()
  const proto = (group: string, routingKey: string) => ({ group, routingKey })
  const P = proto(n.protoGroup, n.protoKey)
  const J = proto(n.jsonGroup, n.jsonKey)
  const withMark = (h: Record<string, string>): Record<string, string> => ({ ...h, [MARK]: mark })
  let message: RawMessage
  switch (category) {
    case "protobuf-random-bytes":
      message = { ...P, payload: randomNonProtobuf(), contentType: employeeProto.contentType, headers: withMark(omnibusHeaders(id, P.routingKey, employeeProto.contentType)) }
      break
    case "protobuf-wrong-content-type":
      message = { ...P, payload: employeeJson.encode(employee(seq)), contentType: "application/json", headers: withMark(omnibusHeaders(id, P.routingKey, "application/json")) }
      break
    case "protobuf-missing-content-type":
      // A protobuf contract tries untyped messages (plain producers often set no content type): bytes that are no Employee fail.
      message = { ...P, payload: randomNonProtobuf(), contentType: undefined, headers: withMark(omnibusHeaders(id, P.routingKey, undefined)) }
      break
    case "json-invalid":
      message = { ...J, payload: invalidJson(seq), contentType: "application/json", headers: withMark(omnibusHeaders(id, J.routingKey, "application/json")) }
      break
    case "json-wrong-shape":
      message = { ...J, payload: encoder.encode(JSON.stringify({ guid: seq, firstName: ["Ada"] })), contentType: "application/json", headers: withMark(omnibusHeaders(id, J.routingKey, "application/json")) }
      break
    case "no-omnibus-headers":
      // Only the mark: no id, timestamp, routing key or content type (a foreign producer's bare message).
      message = { ...J, payload: new Uint8Array(randomBytes(64)), contentType: undefined, headers: { [MARK]: mark } }
      break
    case "oversized-headers": {
      // Over MAX_HEADER_BYTES in total, each value small enough for every broker's header limits.
      const headers = withMark(omnibusHeaders(id, J.routingKey, "application/json"))
      for (let i = 0; i < 9; i++) headers[`pad-${i}`] = "h".repeat(8 * 1024)
      message = { ...J, payload: employeeJson.encode(employee(seq)), contentType: "application/json", headers }
      break
    }
    case "oversized-payload": {
      const big = { ...employee(seq), lastName: "p".repeat(BAD_INPUT_MAX_PAYLOAD + 16 * 1024) }
      message = { ...J, payload: employeeJson.encode(big), contentType: "application/json", headers: withMark(omnibusHeaders(id, J.routingKey, "application/json")) }
      break
    }
  }
  return { message, mark, category }
}

export const describeBadInput = (name: string, harness: BadInputHarness): void => {
  describe(`bad input: ${name}`, () => {
    const recorder = new ResultRecorder(name)
    const groups: Array<string> = []
    const eventuallyMs = harness.eventuallyMs ?? 20_000
    afterAll(async () => {
      const file = await writeResults(recorder, 1, `${resultsDir}bad-input/`)
      console.log(`bad-input results for ${name}: ${file}`)
      await harness.cleanup?.(groups)
    })

    it(BAD_INPUT_CASE.title, { timeout: 4 * eventuallyMs + 60_000 }, async () => {
      const started = performance.now()
      const base = { id: BAD_INPUT_CASE.id, section: BAD_INPUT_CASE.section, title: BAD_INPUT_CASE.title }
      recorder.record({ ...base, status: "fail", reason: "did not finish within the test timeout", durationMs: 0 })
      const metrics: Record<string, number | string> = {}
      let bus: Bus | undefined
      try {
        const run = `bi${randomBytes(4).toString("hex")}`
        const n: Names = {
          protoGroup: `${run}-proto`,
          jsonGroup: `${run}-json`,
          protoKey: `${run}.employee.proto`,
          jsonKey: `${run}.employee.json`,
        }
        groups.push(n.protoGroup, n.jsonGroup)
        bus = await harness.connect({ maxPayloadBytes: BAD_INPUT_MAX_PAYLOAD })
        const handled = new Map<string, number>()
        let deadLettered = 0
        let handlerErrors = 0
        /** id -> routing key of every delivery core dead-lettered, as the consumer saw them. */
        const deadSeen = new Map<string, string>()
        const observe = (e: { readonly type: string; readonly id: string; readonly routingKey: string }) => {
          if (e.type !== "dead-letter") return
          deadLettered++
          deadSeen.set(e.id, e.routingKey)
        }
        const handler = (m: Message<Employee>) => {
          // A valid message decodes to an Employee; anything else reaching a handler is a bug.
          if (typeof m.payload?.guid !== "string") handlerErrors++
          handled.set(m.id, (handled.get(m.id) ?? 0) + 1)
        }
        let settled = 0
        const sampler = new MemorySampler(100, () => settled)
        const settledCount = () => handled.size + deadLettered
        const tick = setInterval(() => { settled = settledCount() }, 20)
        tick.unref()
        await bus.subscribe(n.protoKey, handler, { group: n.protoGroup, codec: employeeProto, concurrency: 8, observe })
        await bus.subscribe(n.jsonKey, handler, { group: n.jsonGroup, codec: employeeJson, concurrency: 8, observe })

        // Categories the broker refuses at write time: prove it refuses them, then leave them out.
        const refused = Object.entries(harness.refuses ?? {}) as Array<[BadInputCategory, string]>
        for (const [category, reason] of refused) {
          const seq = BAD_INPUT_CATEGORIES.indexOf(category)
          let accepted = false
          try {
            await harness.writeRaw([malformedMessage(n, seq, BAD_INPUT_CATEGORIES).message])
            accepted = true
          } catch (e) {
            metrics[`refusedByBroker.${category}`] = `${reason} (${errorText(e).slice(0, 120)})`
          }
          expect(accepted, `the harness says the broker refuses ${category} (${reason}), but it accepted one`).toBe(false)
        }
        const categories = BAD_INPUT_CATEGORIES.filter((c) => harness.refuses?.[c] === undefined)

        // Interleaved: valid, malformed, valid, malformed ..., written in chunks so the test holds little.
        const validIds = new Set<string>()
        const marks = new Map<string, BadInputCategory>()
        const group = new Map<string, string>()
        for (let start = 0; start < VALID + MALFORMED; start += CHUNK) {
          const chunk: Array<Plan> = []
          for (let i = start; i < Math.min(start + CHUNK, VALID + MALFORMED); i++) {
            chunk.push(i % 2 === 0 ? validMessage(n, i >> 1) : malformedMessage(n, i >> 1, categories))
          }
          for (const p of chunk) {
            if (p.validId !== undefined) validIds.add(p.validId)
            if (p.mark !== undefined) {
              marks.set(p.mark, p.category!)
              group.set(p.mark, p.message.group)
            }
          }
          await harness.writeRaw(chunk.map((p) => p.message))
        }

        // Every valid one handled, every malformed one dead-lettered (counted by the consumers' outcomes).
        await eventually(() => validIds.size === [...validIds].filter((id) => handled.has(id)).length && deadLettered >= MALFORMED, {
          timeoutMs: eventuallyMs,
          what: () => `${VALID} valid handled and ${MALFORMED} malformed dead-lettered (handled ${[...validIds].filter((id) => handled.has(id)).length}, dead-lettered ${deadLettered})`,
        })
        settled = settledCount()
        sampler.stop()
        clearInterval(tick)

        // Alive: a message published now is handled by each group.
        const after = [
          await bus.publish(n.protoKey, employee(-1), { codec: employeeProto as Codec<unknown> }),
          await bus.publish(n.jsonKey, employee(-2), { codec: employeeJson as Codec<unknown> }),
        ]
        await eventually(() => after.every((r) => handled.has(r.id)), { timeoutMs: eventuallyMs, what: "a message published after the batch to be handled by both groups" })

        // Exactly the valid ids, once each (no fault was injected: no redelivery is expected).
        const extra = [...handled.keys()].filter((id) => !validIds.has(id) && !after.some((r) => r.id === id))
        const dup = [...handled].filter(([, c]) => c > 1).map(([id]) => id)
        expect(extra, "handled ids that are not valid messages").toEqual([])
        expect(dup, "valid messages handled more than once").toEqual([])
        expect(handlerErrors, "handler called with a payload that is not an Employee").toBe(0)

        // The dead letters: every malformed message, with its reason. (The "dead-letter" events above are
        // only progress: core emits one even when the transport failed to dead-letter.)
        let dead: Array<DeadLetterRecord> = []
        await eventually(async () => {
          dead = []
          for (const g of [n.protoGroup, n.jsonGroup]) dead.push(...(await bus!.deadLetters.list(g)))
          return dead.length >= MALFORMED
        }, { timeoutMs: eventuallyMs, intervalMs: 500, what: () => `${MALFORMED} dead letters in the two groups (listed ${dead.length})` })
        const byMark = new Map<string, DeadLetterRecord>()
        const unmarked: Array<DeadLetterRecord> = []
        for (const r of dead) {
          const mark = r.headers[MARK]
          if (mark === undefined) unmarked.push(r)
          else byMark.set(mark, r)
        }
        expect(unmarked.map((r) => `${r.id}: ${r.failure.error}`), "dead letters that are not malformed messages").toEqual([])
        const missing = [...marks.keys()].filter((m) => !byMark.has(m))
        expect(missing.slice(0, 10), `${missing.length} malformed messages missing from the dead letters`).toEqual([])
        expect(dead.length, "dead letters (one per malformed message)").toBe(MALFORMED)
        const wrong: Array<string> = []
        const perCategory: Record<string, number> = {}
        for (const [mark, category] of marks) {
          const r = byMark.get(mark)!
          perCategory[category] = (perCategory[category] ?? 0) + 1
          const problems: Array<string> = []
          if (r.failure.errorName !== "DecodeFailed") problems.push(`errorName ${r.failure.errorName}`)
          if (!EXPECTED_REASON[category].test(r.failure.error)) problems.push(`error "${r.failure.error.slice(0, 160)}" does not match ${EXPECTED_REASON[category]}`)
          if (r.failure.attempts !== 1) problems.push(`attempts ${r.failure.attempts}`)
          if (r.failure.group !== group.get(mark)) problems.push(`group ${r.failure.group}`)
          // The dead letter keeps the id and routing key the consumer delivered (broker fallbacks included).
          if (!deadSeen.has(r.id)) problems.push(`id ${r.id} is not an id the consumer dead-lettered`)
          else if (deadSeen.get(r.id) !== r.routingKey) problems.push(`routing key ${r.routingKey}, delivered as ${deadSeen.get(r.id)}`)
          if (problems.length > 0) wrong.push(`${mark}: ${problems.join(", ")}`)
        }
        expect(wrong.slice(0, 10), `${wrong.length} dead letters with a wrong failure`).toEqual([])

        // Memory: heap growth after warm-up (the first 10% settled) stays bounded.
        const warm = sampler.after(Math.floor((VALID + MALFORMED) / 10))
        const baseline = warm[0] ?? sampler.samples[0]!
        const growth = Math.max(...warm.map((s) => s.heapUsed)) - baseline.heapUsed
        Object.assign(metrics, {
          handled: validIds.size,
          deadLettered: dead.length,
          ...Object.fromEntries(Object.entries(perCategory).map(([k, v]) => [`deadLettered.${k}`, v])),
          heapAfterWarmUpMiB: +(baseline.heapUsed / MiB).toFixed(1),
          heapPeakMiB: +(sampler.heapPeak / MiB).toFixed(1),
          heapGrowthMiB: +(growth / MiB).toFixed(1),
          rssPeakMiB: +(sampler.rssPeak / MiB).toFixed(1),
          samples: sampler.samples.length,
        })
        console.log(
          `bad input ${name}: handled ${validIds.size}, dead-lettered ${dead.length} ` +
            `(${Object.entries(perCategory).map(([k, v]) => `${k} ${v}`).join(", ")}); ` +
            `heap after warm-up ${mib(baseline.heapUsed)}, peak ${mib(sampler.heapPeak)}, growth ${mib(growth)}; rss peak ${mib(sampler.rssPeak)}`,
        )
        expect(growth, `heap growth after warm-up (${mib(growth)})`).toBeLessThan(HEAP_GROWTH_LIMIT)
        recorder.record({ ...base, status: "pass", durationMs: Math.round(performance.now() - started), metrics })
      } catch (e) {
        recorder.record({ ...base, status: "fail", reason: errorText(e).split("\n")[0]!.slice(0, 300), durationMs: Math.round(performance.now() - started), metrics })
        throw e
      } finally {
        await bus?.close()
      }
    })
  })
}
