/**
 * Dead letters live in the group's DLQ topic (one partition: exact order).
 * Kafka cannot delete single records, so:
 * - replay writes a tombstone record (header x-omnibus-dlq-removed: <partition>:<offset>)
 *   after sending the message back through the group's retry topic (due now,
 *   attempt reset to 1) — only this group sees it again;
 * - purge moves the start of the DLQ: the consumer group `<prefix>/<group>/dlq`
 *   (never joined by anyone) has its committed offsets set to the end;
 * - list reads from those offsets to the end with a throwaway consumer and
 *   drops tombstoned ids.
 */
import { BrokerError, Wire } from "@omnibus/core/adapter"
import type { DeadLetter, DeadLetterStore } from "@omnibus/core/adapter"
import type { InRecord } from "./client.ts"
import type { ConsumerDeps } from "./consumer.ts"
import { DUE_HEADER, failureFromRecord, fromRecord, REMOVED_HEADER, toRecord } from "./wire.ts"

const READ_TIMEOUT_MS = 20_000

interface Live {
  readonly record: InRecord & { readonly partition: number }
  readonly letter: DeadLetter
}

export const makeDeadLetterStore = (deps: ConsumerDeps): DeadLetterStore => {
  const { client, names, topology } = deps

  const exists = async (topic: string) => (await client.listTopics()).includes(topic)

  const readLive = async (group: string): Promise<{ live: ReadonlyArray<Live>; ends: ReadonlyMap<number, bigint> }> => {
    const topic = names.dlq(group)
    if (!(await exists(topic))) return { live: [], ends: new Map() }
    const [committed, offsets] = await Promise.all([client.committed(names.dlqGroupId(group), topic), client.endOffsets(topic)])
    const from = new Map<number, bigint>()
    const to = new Map<number, bigint>()
    for (const o of offsets) {
      const c = committed.find((x) => x.partition === o.partition)?.offset ?? -1n
      from.set(o.partition, c > o.low ? c : o.low)
      to.set(o.partition, o.high)
    }
    let records
    try {
      records = await client.readRange(topic, from, to, READ_TIMEOUT_MS)
    } catch (e) {
      throw new BrokerError({ operation: `read dead letters of ${group}`, reason: e instanceof Error ? e.message : String(e), cause: e })
    }
    const removed = new Set<string>()
    for (const r of records) {
      const id = r.headers[REMOVED_HEADER]
      if (id !== undefined) removed.add(id)
    }
    const live: Array<Live> = []
    for (const r of records) {
      if (r.headers[REMOVED_HEADER] !== undefined) continue
      if (removed.has(`${r.partition}:${r.offset}`)) continue
      const envelope = fromRecord(topic, r.partition, r)
      live.push({ record: r, letter: { envelope, failure: failureFromRecord(r, group) } })
    }
    return { live, ends: to }
  }

  return {
    async list(group, options) {
      const { live } = await readLive(group)
      const limit = options?.limit ?? Number.POSITIVE_INFINITY
      return live.slice(0, limit).map((l) => l.letter)
    },

    async replay(group, options) {
      const { live } = await readLive(group)
      const ids = options?.ids ? new Set(options.ids) : undefined
      const chosen = live.filter((l) => ids === undefined || ids.has(l.letter.envelope.id)).slice(0, options?.limit ?? Number.POSITIVE_INFINITY)
      if (chosen.length === 0) return 0
      await topology.ensureTopics([names.retry(group)])
      const now = String(Date.now())
      await client.send(
        names.retry(group),
        chosen.map((l) => toRecord(l.letter.envelope, { [Wire.attempt]: "1", [DUE_HEADER]: now })),
      )
      await client.send(
        names.dlq(group),
        chosen.map((l) => ({ key: undefined, value: new Uint8Array(0), headers: { [REMOVED_HEADER]: `${l.record.partition}:${l.record.offset}` } })),
      )
      return chosen.length
    },

    async purge(group) {
      const { live, ends } = await readLive(group)
      if (ends.size > 0) {
        await client.setOffsets(names.dlqGroupId(group), names.dlq(group), [...ends].map(([partition, offset]) => ({ partition, offset })))
      }
      return live.length
    },
  }
}
