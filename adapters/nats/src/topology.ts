/**
 * Streams, consumers and subjects. The mapping (see README):
 *   event with routing key K      → subject `<stream>.K` in stream `<stream>` (interest retention)
 *   group G (durable)             → pull consumer `enc(G)` on `<stream>`, one filter subject
 *   ephemeral subscription of G   → consumer `enc(G)~eph~<nuid>` (no durable name), deleted on close
 *   dead letters of G             → subject `<dlq>.enc(G)` in stream `<dlq>`
 *   replayed dead letters of G    → subject `<replay>.enc(G)` in work-queue stream `<replay>`,
 *                                   read by consumer `enc(G)` on that stream
 *   first failure time            → subject `<failures>.enc(G).<seq>` (one per subject, max age)
 *   payloads over max_payload     → chunks under `<blobs>.<id>` (claim check)
 * enc(G) replaces "." by "~": consumer names cannot hold ".", and "~" is not a
 * legal routing-key character, so the encoding is injective.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import type { ConsumerConfig, ConsumerInfo, JetStreamManager, StreamConfig } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import { BrokerError, literalPrefix } from "@omnibus/core/adapter"
import type { NatsSettings } from "./config.ts"
import { reasonOf } from "./connection.ts"

export const encodeGroup = (group: string): string => group.replaceAll(".", "~")

export const EPHEMERAL_MARK = "~eph~"

export interface FilterPlan {
  /** The one filter subject the consumer gets (2.9 has no filter_subjects). */
  readonly filter: string
  /** True when the server filter is exactly the patterns: no matching needed in the adapter. */
  readonly exact: boolean
}

/**
 * One NATS filter for a set of AMQP patterns. A single pattern without "#"
 * maps natively ("*" is NATS "*"); "#" alone is ">". Everything else (a
 * trailing "#", which must also match the bare prefix, "#" in the middle,
 * several patterns) gets the longest common literal prefix + ">" and the
 * adapter matches exactly, acking what the patterns do not match.
 */
export const planFilter = (prefix: string, patterns: ReadonlyArray<string>): FilterPlan => {
  const unique = [...new Set(patterns)]
  if (unique.length === 1) {
    const p = unique[0]!
    if (p === "#") return { filter: `${prefix}.>`, exact: true }
    if (!p.split(".").includes("#")) return { filter: `${prefix}.${p}`, exact: true }
  }
  let common = [...literalPrefix(unique[0] ?? "#")]
  for (const p of unique.slice(1)) {
    const lp = literalPrefix(p)
    let i = 0
    while (i < common.length && i < lp.length && common[i] === lp[i]) i++
    common = common.slice(0, i)
  }
  // `C.>` misses the key C itself: when a pattern can match exactly |C| words, widen by one word.
  const minWords = (p: string): number => p.split(".").filter((w) => w !== "#").length
  if (common.length > 0 && unique.some((p) => minWords(p) <= common.length)) common = common.slice(0, -1)
  return { filter: common.length === 0 ? `${prefix}.>` : `${prefix}.${common.join(".")}.>`, exact: false }
}

const STREAM_EXISTS = 10058
const CONSUMER_NOT_FOUND = 10014
const STREAM_NOT_FOUND = 10059

export const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError && (e.code === CONSUMER_NOT_FOUND || e.code === STREAM_NOT_FOUND || e.status === 404)

export class Topology {
  private readonly jsm: JetStreamManager
  private readonly s: NatsSettings
  private streamsReady: Promise<void> | undefined

  constructor(jsm: JetStreamManager, settings: NatsSettings) {
    this.jsm = jsm
    this.s = settings
  }

  streamConfigs(): Array<Partial<StreamConfig> & { name: string }> {
    const s = this.s
    const file = StorageType.File
    return [
      { name: s.stream, subjects: [`${s.stream}.>`], retention: RetentionPolicy.Interest, storage: file, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.deadLetterStream, subjects: [`${s.deadLetterStream}.>`], retention: RetentionPolicy.Limits, storage: file, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.replayStream, subjects: [`${s.replayStream}.>`], retention: RetentionPolicy.Workqueue, storage: file, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.failureStream, subjects: [`${s.failureStream}.>`], retention: RetentionPolicy.Limits, storage: file, max_msgs_per_subject: 1, max_age: nanos(7 * 24 * 3600_000) },
      { name: s.blobStream, subjects: [`${s.blobStream}.>`], retention: RetentionPolicy.Limits, storage: file, max_age: nanos(s.blobMaxAgeMs) },
    ]
  }

  /** Creates the adapter's streams when missing (an existing stream is used as configured). */
  ensureStreams(force = false): Promise<void> {
    if (force || this.streamsReady === undefined) {
      const p = Promise.all(this.streamConfigs().map((cfg) => this.ensureStream(cfg))).then(() => undefined)
      this.streamsReady = p
      p.catch(() => {
        if (this.streamsReady === p) this.streamsReady = undefined
      })
    }
    return this.streamsReady
  }

  private async ensureStream(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    try {
      await this.jsm.streams.info(cfg.name)
      return
    } catch (e) {
      if (!isNotFound(e)) throw new BrokerError({ operation: `stream info ${cfg.name}`, reason: reasonOf(e), cause: e })
    }
    try {
      await this.jsm.streams.add(cfg)
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === STREAM_EXISTS) return
      throw new BrokerError({ operation: `create stream ${cfg.name}`, reason: reasonOf(e), cause: e })
    }
  }

  groupConsumerConfig(group: string, patterns: ReadonlyArray<string>, prefetch: number): Partial<ConsumerConfig> & { filter_subject: string } {
    const plan = planFilter(this.s.stream, patterns)
    return {
      durable_name: encodeGroup(group),
      filter_subject: plan.filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: nanos(this.s.leaseMs),
      // Messages waiting for a delayed retry count as ack-pending: keep room so they never block the group.
      max_ack_pending: Math.max(10_000, prefetch * 64),
      max_deliver: -1,
      description: `omnibus group ${JSON.stringify(group)} patterns ${JSON.stringify([...new Set(patterns)])}`,
    }
  }

  ephemeralConsumerConfig(group: string, patterns: ReadonlyArray<string>, instance: string): Partial<ConsumerConfig> & { filter_subject: string; name: string } {
    const plan = planFilter(this.s.stream, patterns)
    return {
      name: `${encodeGroup(group)}${EPHEMERAL_MARK}${instance}`,
      filter_subject: plan.filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: nanos(this.s.leaseMs),
      max_ack_pending: 10_000,
      max_deliver: -1,
      // Left behind by a crashed process: the server removes it once no pull request came for a while.
      inactive_threshold: nanos(Math.max(30_000, this.s.pullExpiresMs * 6)),
    }
  }

  replayConsumerConfig(group: string): Partial<ConsumerConfig> & { filter_subject: string } {
    return {
      durable_name: encodeGroup(group),
      filter_subject: `${this.s.replayStream}.${encodeGroup(group)}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.s.leaseMs),
      max_ack_pending: 10_000,
      max_deliver: -1,
      description: `omnibus replays for group ${JSON.stringify(group)}`,
    }
  }

  /** Creates the consumer, or updates it when its filter or limits changed. */
  async ensureConsumer(stream: string, cfg: Partial<ConsumerConfig>): Promise<ConsumerInfo> {
    const name = cfg.durable_name ?? cfg.name!
    let existing: ConsumerInfo | undefined
    try {
      existing = await this.jsm.consumers.info(stream, name)
    } catch (e) {
      if (!isNotFound(e)) throw new BrokerError({ operation: `consumer info ${stream}/${name}`, reason: reasonOf(e), cause: e })
    }
    try {
      if (existing === undefined) return await this.jsm.consumers.add(stream, cfg)
      const c = existing.config
      if (c.filter_subject === cfg.filter_subject && c.ack_wait === cfg.ack_wait && (c.max_ack_pending ?? 0) >= (cfg.max_ack_pending ?? 0)) return existing
      return await this.jsm.consumers.update(stream, name, {
        filter_subject: cfg.filter_subject,
        ack_wait: cfg.ack_wait,
        max_ack_pending: Math.max(c.max_ack_pending ?? 0, cfg.max_ack_pending ?? 0),
        description: cfg.description,
      })
    } catch (e) {
      throw new BrokerError({ operation: `create consumer ${stream}/${name}`, reason: reasonOf(e), cause: e })
    }
  }

  async deleteConsumer(stream: string, name: string): Promise<void> {
    try {
      await this.jsm.consumers.delete(stream, name)
    } catch (e) {
      if (!isNotFound(e)) throw new BrokerError({ operation: `delete consumer ${stream}/${name}`, reason: reasonOf(e), cause: e })
    }
  }

  /** Consumers named after a group on the adapter's streams (durable, replay, ephemeral leftovers). */
  async groupConsumers(group: string): Promise<Array<{ readonly stream: string; readonly name: string }>> {
    const enc = encodeGroup(group)
    const found: Array<{ stream: string; name: string }> = []
    for (const stream of [this.s.stream, this.s.replayStream]) {
      try {
        for await (const c of this.jsm.consumers.list(stream)) {
          if (c.name === enc || c.name.startsWith(`${enc}${EPHEMERAL_MARK}`)) found.push({ stream, name: c.name })
        }
      } catch (e) {
        if (!isNotFound(e)) throw e
      }
    }
    return found
  }

  async countGroupConsumers(group: string): Promise<number> {
    return (await this.groupConsumers(group)).length
  }

  /** Removes a group: its consumers go, and with interest retention its pending messages with them. */
  async deleteGroup(group: string): Promise<void> {
    for (const c of await this.groupConsumers(group)) await this.deleteConsumer(c.stream, c.name)
  }
}
