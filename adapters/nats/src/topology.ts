/**
 * Streams, consumers and subjects. The mapping (see README):
 *   event with routing key K      → subject `<stream>.K` in stream `<stream>` (interest retention)
 *   group G (durable)             → pull consumer `enc(G)` on `<stream>`: one filter subject, or on
 *                                   nats-server 2.10+ one per pattern (filter_subjects, see nativeFilters)
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
import { electing, reasonOf, retryUntil, streamReplicas, supportsMultiFilter } from "./connection.ts"

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

/**
 * The NATS subject covering the keys an AMQP pattern matches, or undefined ("#" inside a pattern).
 * "a.b.#" matches "a.b" itself and everything below it. The exact pair `a.b` + `a.b.>` loses
 * messages on nats-server 2.10.26 and later (nats-io/nats-server#6824: an exact filter beside a
 * wildcard on the same root), so it gets the one subject `a.>` and the consumer matches the rest
 * (planFilter is never exact with "#").
 */
const subjectOf = (prefix: string, pattern: string): string | undefined => {
  if (pattern === "#") return `${prefix}.>`
  const words = pattern.split(".")
  const hashes = words.filter((w) => w === "#").length
  if (hashes === 0) return `${prefix}.${pattern}`
  if (hashes === 1 && words.at(-1) === "#") return [prefix, ...words.slice(0, -2), ">"].join(".")
  return undefined
}

/** Whether every subject `b` matches is matched by `a` (NATS wildcards). */
const covers = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  for (let i = 0; ; i++) {
    if (a[i] === ">") return b[i] !== undefined
    if (a[i] === undefined || b[i] === undefined) return a[i] === b[i]
    if (b[i] === ">" || (a[i] !== "*" && a[i] !== b[i])) return false
  }
}

/** Whether some subject matches both `a` and `b`. */
const overlap = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  for (let i = 0; ; i++) {
    if (a[i] === ">" || b[i] === ">") return a[i] !== undefined && b[i] !== undefined
    if (a[i] === undefined || b[i] === undefined) return a[i] === b[i]
    if (a[i] !== "*" && b[i] !== "*" && a[i] !== b[i]) return false
  }
}

/**
 * For nats-server 2.10+ (filter_subjects): subjects that match exactly what the patterns
 * match, so a group on 2 of 20 event types no longer reads the other 18. The server
 * refuses overlapping filters: a subject another one covers is dropped, and patterns
 * that overlap only in part (or hold "#" inside) get undefined (planFilter's one filter).
 */
export const nativeFilters = (prefix: string, patterns: ReadonlyArray<string>): Array<string> | undefined => {
  const all: Array<string> = []
  for (const p of new Set(patterns)) {
    const s = subjectOf(prefix, p)
    if (s === undefined) return undefined
    all.push(s)
  }
  const split = [...new Set(all)].map((s) => s.split("."))
  const kept = split.filter((s, i) => !split.some((o, j) => j !== i && covers(o, s) && (!covers(s, o) || j < i)))
  for (let i = 0; i < kept.length; i++) for (let j = i + 1; j < kept.length; j++) if (overlap(kept[i]!, kept[j]!)) return undefined
  return kept.map((s) => s.join("."))
}

const STREAM_EXISTS = 10058
const CONSUMER_NOT_FOUND = 10014
const STREAM_NOT_FOUND = 10059

export const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError && (e.code === CONSUMER_NOT_FOUND || e.code === STREAM_NOT_FOUND || e.status === 404)

/** A consumer's filter subjects in one comparable form (either field of the config). */
const filtersOf = (c: Partial<Pick<ConsumerConfig, "filter_subject" | "filter_subjects">>): string =>
  JSON.stringify(c.filter_subjects?.length ? [...c.filter_subjects].sort() : c.filter_subject ? [c.filter_subject] : [])

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
    // Every stream is replicated alike (docs/clusters.md); consumers inherit their stream's replicas.
    const num_replicas = streamReplicas(s)
    return [
      { name: s.stream, subjects: [`${s.stream}.>`], retention: RetentionPolicy.Interest, storage: file, num_replicas, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.deadLetterStream, subjects: [`${s.deadLetterStream}.>`], retention: RetentionPolicy.Limits, storage: file, num_replicas, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.replayStream, subjects: [`${s.replayStream}.>`], retention: RetentionPolicy.Workqueue, storage: file, num_replicas, duplicate_window: nanos(s.duplicateWindowMs) },
      { name: s.failureStream, subjects: [`${s.failureStream}.>`], retention: RetentionPolicy.Limits, storage: file, num_replicas, max_msgs_per_subject: 1, max_age: nanos(7 * 24 * 3600_000) },
      { name: s.blobStream, subjects: [`${s.blobStream}.>`], retention: RetentionPolicy.Limits, storage: file, num_replicas, max_age: nanos(s.blobMaxAgeMs) },
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

  /**
   * The consumer's filter: the exact one where one subject does it, several exact ones
   * where the server takes them (2.10+), else planFilter's broader one (the consumer
   * acks what the patterns do not match).
   */
  filterConfig(patterns: ReadonlyArray<string>): { readonly filter_subject: string } | { readonly filter_subjects: Array<string> } {
    const plan = planFilter(this.s.stream, patterns)
    if (plan.exact || !supportsMultiFilter(this.s)) return { filter_subject: plan.filter }
    const subjects = nativeFilters(this.s.stream, patterns)
    if (subjects === undefined) return { filter_subject: plan.filter }
    return subjects.length === 1 ? { filter_subject: subjects[0]! } : { filter_subjects: subjects }
  }

  groupConsumerConfig(group: string, patterns: ReadonlyArray<string>, prefetch: number): Partial<ConsumerConfig> {
    return {
      durable_name: encodeGroup(group),
      ...this.filterConfig(patterns),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: nanos(this.s.leaseMs),
      // Messages waiting for a delayed retry count as ack-pending: keep room so they never block the group.
      max_ack_pending: Math.max(10_000, prefetch * 64),
      max_deliver: -1,
      description: `omnibus group ${JSON.stringify(group)} patterns ${JSON.stringify([...new Set(patterns)])}`,
    }
  }

  ephemeralConsumerConfig(group: string, patterns: ReadonlyArray<string>, instance: string): Partial<ConsumerConfig> & { name: string } {
    return {
      name: `${encodeGroup(group)}${EPHEMERAL_MARK}${instance}`,
      ...this.filterConfig(patterns),
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

  /**
   * `f`, asked again while the cluster elects the leaders it needs (`electing`), until connectTimeoutMs
   * from now: a subscribe or declareGroup while a node is down waits for its consumer's new leader.
   */
  patiently<A>(f: () => Promise<A>): Promise<A> {
    return retryUntil(Date.now() + this.s.connectTimeoutMs, f, electing)
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
      if (filtersOf(c) === filtersOf(cfg) && c.ack_wait === cfg.ack_wait && (c.max_ack_pending ?? 0) >= (cfg.max_ack_pending ?? 0)) return existing
      // update merges into the current config: the filter form not used is cleared
      return await this.jsm.consumers.update(stream, name, {
        filter_subject: cfg.filter_subject,
        filter_subjects: cfg.filter_subjects,
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
