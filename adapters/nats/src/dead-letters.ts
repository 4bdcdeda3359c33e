/**
 * Dead letters live in the dead-letter stream under `<dlq>.enc(group)`, with
 * the original headers/payload (core's wire layout) plus the failure metadata
 * headers. list walks them with "next message by subject" gets (no consumer);
 * replay republishes each to the group's replay subject (only that group's
 * replay consumer reads it), then deletes it from the dead-letter stream.
 */
import type { MsgRequest, StoredMsg } from "@nats-io/jetstream"
import { BrokerError, FAILURE_HEADERS, Wire, failureFromHeaders, fromWireHeaders } from "@omnibus/core/adapter"
import type { DeadLetter, DeadLetterStore, FailureMetadata } from "@omnibus/core/adapter"
import { reasonOf } from "./connection.ts"
import type { Ctx } from "./context.ts"
import { replayNotifySubject } from "./context.ts"
import { encodeGroup } from "./topology.ts"
import { toHeaders, toRecord, envelopeHeaders } from "./wire.ts"


export class NatsDeadLetters implements DeadLetterStore {
  private readonly ctx: Ctx

  constructor(ctx: Ctx) {
    this.ctx = ctx
  }

  private subject(group: string): string {
    return `${this.ctx.settings.deadLetterStream}.${encodeGroup(group)}`
  }

  /** Stored dead letters of a group, oldest first. */
  private async *walk(group: string): AsyncGenerator<StoredMsg> {
    const stream = this.ctx.settings.deadLetterStream
    const subject = this.subject(group)
    let seq = 1
    for (;;) {
      let m: StoredMsg | null
      try {
        // "next by subject" works on the regular get API since 2.9; the client types only list it for direct gets.
        m = await this.ctx.jsm.streams.getMessage(stream, { next_by_subj: subject, seq } as unknown as MsgRequest)
      } catch (e) {
        throw new BrokerError({ operation: `read dead letters of ${group}`, reason: reasonOf(e), cause: e })
      }
      if (!m) return
      yield m
      seq = m.seq + 1
    }
  }

  private async decode(m: StoredMsg, group: string): Promise<DeadLetter> {
    const record = toRecord(m.header)
    const meta = envelopeHeaders(record)
    const payload = await this.ctx.wire.payload(record, m.data)
    const envelope = fromWireHeaders(meta, payload, { id: `${this.ctx.settings.deadLetterStream}-${m.seq}`, routingKey: "", timestamp: m.time.getTime() })
    const failure = failureFromHeaders(record, group)
    return { envelope, failure }
  }

  async list(group: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<DeadLetter>> {
    await this.ctx.topology.ensureStreams()
    const limit = options?.limit ?? Number.POSITIVE_INFINITY
    const out: Array<DeadLetter> = []
    if (limit <= 0) return out
    for await (const m of this.walk(group)) {
      out.push(await this.decode(m, group))
      if (out.length >= limit) break
    }
    return out
  }

  async replay(group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }): Promise<number> {
    await this.ctx.topology.ensureStreams()
    const ids = options?.ids ? new Set(options.ids) : undefined
    const limit = options?.limit ?? Number.POSITIVE_INFINITY
    const enc = encodeGroup(group)
    const s = this.ctx.settings
    let n = 0
    if (limit <= 0) return 0
    for await (const m of this.walk(group)) {
      const record = toRecord(m.header)
      const id = record[Wire.id] ?? `${s.deadLetterStream}-${m.seq}`
      if (ids && !ids.has(id)) continue
      const original: Record<string, string> = {}
      for (const [k, v] of Object.entries(record)) if (!/^nats-/i.test(k)) original[k] = v
      for (const k of FAILURE_HEADERS) delete original[k]
      original[Wire.id] = id
      try {
        await this.ctx.publisher.send(`${s.replayStream}.${enc}`, m.data, toHeaders(original), `replay-${enc}-${m.seq}`)
        await this.ctx.jsm.streams.deleteMessage(s.deadLetterStream, m.seq)
      } catch (e) {
        throw new BrokerError({ operation: `replay dead letter ${id} of ${group}`, reason: reasonOf(e), cause: e })
      }
      n++
      if (n >= limit) break
    }
    if (n > 0 && this.ctx.link.usable) this.ctx.link.nc.publish(replayNotifySubject(s, enc))
    return n
  }

  async purge(group: string): Promise<number> {
    await this.ctx.topology.ensureStreams()
    try {
      const r = await this.ctx.jsm.streams.purge(this.ctx.settings.deadLetterStream, { filter: this.subject(group) })
      return r.purged
    } catch (e) {
      throw new BrokerError({ operation: `purge dead letters of ${group}`, reason: reasonOf(e), cause: e })
    }
  }
}
