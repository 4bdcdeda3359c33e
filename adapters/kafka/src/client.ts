/**
 * The one module that talks to the Kafka client library, @platformatic/kafka
 * 2.12.1 (with group-consumer.ts, which holds the consumer-group members).
 * Everything else in the adapter uses the narrow `KafkaClient` interface
 * below. (Until the switch this was kafkajs 2.2.4; see README "Client choice".)
 */
import { Wire } from "@omnibus/core/adapter"
import { Admin, Consumer, Producer, type MessageToProduce } from "@platformatic/kafka"
import type { ConnectionConfig } from "./config.ts"
import { errorTree } from "./error-tree.ts"
import { decodeBatches, destroyConnections, fetchPool, makeMember, platformaticOptions, type Member, type MemberHandler, type MemberOptions } from "./group-consumer.ts"

export interface OutRecord {
  readonly key: string | undefined
  readonly value: Uint8Array
  readonly headers: Readonly<Record<string, string>>
  /** Set: this partition; unset: by key, or round-robin without one. */
  readonly partition?: number
}

export interface InRecord {
  readonly offset: string
  readonly key: string | undefined
  readonly value: Uint8Array
  readonly headers: Readonly<Record<string, string>>
  readonly timestamp: number
}

export interface CommittedOffset {
  readonly partition: number
  /** -1 when the group has committed nothing for the partition. */
  readonly offset: bigint
  readonly metadata: string | null
}

export interface KafkaClient {
  connect(timeoutMs: number): Promise<void>
  send(topic: string, records: ReadonlyArray<OutRecord>): Promise<void>
  createTopics(topics: ReadonlyArray<{ readonly topic: string; readonly partitions: number }>, maxMessageBytes: number): Promise<void>
  deleteTopics(topics: ReadonlyArray<string>): Promise<void>
  listTopics(): Promise<ReadonlyArray<string>>
  partitionCount(topic: string): Promise<number>
  committed(groupId: string, topic: string): Promise<ReadonlyArray<CommittedOffset>>
  endOffsets(topic: string): Promise<ReadonlyArray<{ readonly partition: number; readonly low: bigint; readonly high: bigint }>>
  /** Only works while the group has no members. */
  setOffsets(groupId: string, topic: string, offsets: ReadonlyArray<{ readonly partition: number; readonly offset: bigint }>): Promise<void>
  listGroups(): Promise<ReadonlyArray<string>>
  /** Member count per group (0 for unknown/empty groups). */
  groupMembers(groupIds: ReadonlyArray<string>): Promise<ReadonlyMap<string, number>>
  deleteGroups(groupIds: ReadonlyArray<string>): Promise<void>
  /** A metadata request answered within the heartbeat deadline (requestTimeoutMs when the heartbeat is off); rejects with LinkTimeout otherwise. */
  ping(): Promise<void>
  /** A consumer-group member on @platformatic/kafka (see group-consumer.ts). */
  member(options: Omit<MemberOptions, "committed">, handler: MemberHandler): Member
  /**
   * Reads records with from[p] <= offset < to[p] of each partition and returns
   * them sorted by (timestamp, partition, offset); uses a throwaway consumer.
   */
  readRange(topic: string, from: ReadonlyMap<number, bigint>, to: ReadonlyMap<number, bigint>, timeoutMs: number): Promise<ReadonlyArray<InRecord & { readonly partition: number }>>
  disconnect(): Promise<void>
}

/** No answer within the deadline: the link is frozen or half-open (a down broker refuses at once instead). */
export class LinkTimeout extends Error {
  readonly deadlineMs: number
  constructor(deadlineMs: number) {
    super(`no answer from the broker within ${deadlineMs} ms (frozen or half-open link)`)
    this.name = "LinkTimeout"
    this.deadlineMs = deadlineMs
  }
}

const withDeadline = async <T>(p: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new LinkTimeout(ms)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const hasApiError = (e: unknown, id: string): boolean => errorTree(e).some((t) => t.apiId === id)
const isAuth = (e: unknown): boolean =>
  errorTree(e).some((t) => /Authentication|SASL/i.test(String(t.name)) || /SASL|authentication/i.test(String(t.message)) || /SASL|AUTHENTICATION/.test(String(t.apiId)))
const isRetriable = (e: unknown): boolean => !isAuth(e) && errorTree(e).some((t) => t.canRetry === true)

/** Admin calls right after broker start or topic creation meet "coordinator loading" / "not leader": retry those. */
const retrying = async <T>(fn: () => Promise<T>, deadlineMs = 15_000): Promise<T> => {
  const deadline = Date.now() + deadlineMs
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      return await fn()
    } catch (e) {
      if (!isRetriable(e) || Date.now() + delay > deadline) throw e
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

/**
 * Header names are few and the same on every record (Omnibus's own, a user's),
 * and so are a record's content type and routing key, mostly: those strings are
 * encoded once and their bytes reused (the producer copies them into the batch)
 * instead of a Buffer per string per record. Bounded, for producers of many
 * distinct names or keys.
 */
const encoded = new Map<string, Buffer>()
const encodedOnce = (s: string): Buffer => {
  let b = encoded.get(s)
  if (b === undefined) {
    if (encoded.size >= 1_024) encoded.clear()
    b = Buffer.from(s, "utf8")
    encoded.set(s, b)
  }
  return b
}

const toMessage = (topic: string, r: OutRecord): MessageToProduce<Buffer, Buffer, Buffer, Buffer> => {
  const headers = new Map<Buffer, Buffer>()
  for (const name in r.headers) {
    const value = r.headers[name]!
    headers.set(encodedOnce(name), name === Wire.contentType || name === Wire.routingKey ? encodedOnce(value) : Buffer.from(value, "utf8"))
  }
  const m: MessageToProduce<Buffer, Buffer, Buffer, Buffer> = { topic, value: toBuffer(r.value), headers }
  if (r.key !== undefined) m.key = Buffer.from(r.key, "utf8")
  if (r.partition !== undefined) m.partition = r.partition
  return m
}

const EARLIEST = -2n
const LATEST = -1n

export const makeKafkaClient = (config: ConnectionConfig): KafkaClient => {
  const base = platformaticOptions(config)
  // No retries inside the admin client: `retrying` below and connect() retry what is retriable and
  // stop at once on refused credentials (no reconnect storm).
  const admin = new Admin({ ...base, retries: 0 })
  let producer: Producer | undefined
  const members = new Set<Member>()
  const readers = new Set<{ readonly connections: Parameters<typeof destroyConnections>[0] }>()

  // Dead-link detection (Kafka has no connection heartbeat; a frozen link otherwise shows only as
  // request timeouts, and JoinGroup may legitimately wait a minute). A client of its own sends the
  // probes, so they never queue behind admin calls on a connection the broker keeps muted while it
  // works on one. Unanswered within heartbeatMs: every connection of every client here is
  // destroyed; the clients reconnect on their next request (retries, rejoin, fetch loop).
  const { heartbeatMs, requestTimeoutMs } = config
  const probe = heartbeatMs > 0 ? new Admin({ ...base, retries: 0, requestTimeout: heartbeatMs + requestTimeoutMs }) : undefined
  let watchdog: NodeJS.Timeout | undefined
  let probing = false
  const dropConnections = (): void => {
    for (const c of [admin, producer, probe]) if (c) destroyConnections(c.connections)
    for (const m of members) m.dropConnections()
    for (const r of readers) destroyConnections(r.connections)
  }
  const beat = async (): Promise<void> => {
    if (probing) return
    probing = true
    try {
      await client.ping()
    } catch (e) {
      if (e instanceof LinkTimeout) dropConnections()
    } finally {
      probing = false
    }
  }

  // A produce is answered in milliseconds; one still out after a heartbeat period sits on a frozen
  // link the probe (its own connection) may not see: drop the producer's connections so the
  // adapter's retry sends it again on a new one (the idempotent producer dedups the resend).
  const watched = <T>(request: Promise<T>, pool: Parameters<typeof destroyConnections>[0]): Promise<T> => {
    if (heartbeatMs <= 0) return request
    const stuck = setTimeout(() => destroyConnections(pool), heartbeatMs)
    return request.finally(() => clearTimeout(stuck))
  }

  // Idempotent: broker-side dedup of producer retries; acks=all.
  const getProducer = (): Producer => (producer ??= new Producer({ ...base, idempotent: true, acks: -1, autocreateTopics: false }))

  const partitionsOf = async (topic: string): Promise<Array<number>> => {
    const md = await admin.metadata({ topics: [topic] })
    const t = md.topics.get(topic)
    if (!t) throw new Error(`topic ${topic} not found`)
    return Array.from({ length: t.partitionsCount }, (_, i) => i)
  }

  const listOffsets = async (topic: string, timestamp: bigint): Promise<Map<number, bigint>> => {
    const partitions = await partitionsOf(topic)
    const res = await admin.listOffsets({ topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp })) }] })
    const out = new Map<number, bigint>()
    for (const t of res) for (const p of t.partitions) out.set(p.partitionIndex, p.offset)
    return out
  }

  // The replication of created topics (config.ts TopicReplication), from the cluster's size unless set.
  let replication: Promise<{ readonly factor: number; readonly minInsync: number | undefined }> | undefined
  const topicReplication = async (): Promise<{ readonly factor: number; readonly minInsync: number | undefined }> => {
    const set = config.replication
    const factor = set.factor ?? Math.min(3, (await retrying(() => admin.metadata({ topics: [] }))).brokers.size)
    return { factor, minInsync: set.minInsync ?? (factor >= 3 ? 2 : undefined) }
  }

  const client: KafkaClient = {
    async connect(timeoutMs) {
      const deadline = Date.now() + timeoutMs
      let timer: NodeJS.Timeout | undefined
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no broker answered within ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        // Retries with backoff until the deadline; authentication failures end it at once.
        for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
          try {
            await Promise.race([admin.metadata({ topics: [], forceUpdate: true }), expired])
            await Promise.race([getProducer().metadata({ topics: [], forceUpdate: true }), expired])
            if (probe && !watchdog) {
              watchdog = setInterval(() => void beat(), heartbeatMs)
              watchdog.unref()
            }
            return
          } catch (e) {
            if (isAuth(e)) throw e
            await Promise.race([new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now())))), expired])
          }
        }
      } finally {
        clearTimeout(timer)
      }
    },
    async send(topic, records) {
      await retrying(() => {
        const producer = getProducer()
        return watched(producer.send({
          acks: -1,
          messages: records.map((r) => toMessage(topic, r)),
        }), producer.connections)
      })
    },
    async createTopics(topics, maxMessageBytes) {
      if (topics.length === 0) return
      const { factor, minInsync } = await (replication ??= topicReplication().catch((e: unknown) => {
        replication = undefined
        throw e
      }))
      const configs = [{ name: "max.message.bytes", value: String(maxMessageBytes) }, ...(minInsync !== undefined ? [{ name: "min.insync.replicas", value: String(minInsync) }] : [])]
      for (const t of topics) {
        try {
          await retrying(() => admin.createTopics({ topics: [t.topic], partitions: t.partitions, replicas: factor, configs }))
        } catch (e) {
          if (!hasApiError(e, "TOPIC_ALREADY_EXISTS")) throw e
        }
      }
      const names = topics.map((t) => t.topic)
      const deadline = Date.now() + 15_000
      // Served, not only led: a KRaft broker shows a new partition's leader in its metadata before
      // its replica manager hosts the partition, and meanwhile answers produce, fetch and
      // ListOffsets with UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this
      // topic-partition"), which clients that trust the metadata (kafkajs) report as a failure.
      // ListOffsets on every partition is answered by the replica manager.
      for (;;) {
        try {
          const md = await admin.metadata({ topics: names, forceUpdate: true })
          const led = names.every((n) => {
            const t = md.topics.get(n)
            return t !== undefined && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)
          })
          if (led) {
            await admin.listOffsets({ topics: names.map((n) => ({ name: n, partitions: md.topics.get(n)!.partitions.map((_, i) => ({ partitionIndex: i, timestamp: LATEST })) })) })
            return
          }
        } catch (e) {
          if (Date.now() > deadline) throw e
        }
        if (Date.now() > deadline) throw new Error(`topics ${names.join(", ")} have no leader after 15 s`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async deleteTopics(topics) {
      if (topics.length > 0) await admin.deleteTopics({ topics: [...topics] })
    },
    listTopics: () => retrying(() => admin.listTopics()),
    partitionCount: async (topic) => (await retrying(() => partitionsOf(topic))).length,
    async committed(groupId, topic) {
      const partitions = await retrying(() => partitionsOf(topic))
      const res = await retrying(() => admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes: partitions }] }] }))
      const t = res.find((g) => g.groupId === groupId)?.topics.find((x) => x.name === topic)
      return (t?.partitions ?? []).map((p) => ({ partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata ?? null }))
    },
    async endOffsets(topic) {
      const [low, high] = await retrying(() => Promise.all([listOffsets(topic, EARLIEST), listOffsets(topic, LATEST)]))
      return [...high].map(([partition, h]) => ({ partition, low: low.get(partition) ?? 0n, high: h }))
    },
    async setOffsets(groupId, topic, offsets) {
      if (offsets.length === 0) return
      // An admin OffsetCommit: accepted only while the group has no members.
      await retrying(() => admin.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets: offsets.map((o) => ({ partition: o.partition, offset: o.offset })) }] }))
    },
    async listGroups() {
      return [...(await retrying(() => admin.listGroups())).keys()]
    },
    async groupMembers(groupIds) {
      const out = new Map<string, number>()
      if (groupIds.length === 0) return out
      const res = await retrying(() => admin.describeGroups({ groups: [...groupIds] }))
      for (const [id, g] of res) out.set(id, g.members.size)
      return out
    },
    async deleteGroups(groupIds) {
      if (groupIds.length > 0) await admin.deleteGroups({ groups: [...groupIds] })
    },
    async ping() {
      await withDeadline((probe ?? admin).metadata({ topics: [], forceUpdate: true }), heartbeatMs > 0 ? heartbeatMs : requestTimeoutMs)
    },
    member(options, handler) {
      const m = makeMember(config, { ...options, committed: (groupId, topic) => client.committed(groupId, topic) }, handler)
      members.add(m)
      const forget = (p: Promise<void>) => p.finally(() => members.delete(m))
      return { ...m, disconnect: () => forget(m.disconnect()), abort: () => forget(m.abort()) }
    },
    async readRange(topic, from, to, timeoutMs) {
      const next = new Map<number, bigint>()
      for (const [p, end] of to) {
        const start = from.get(p) ?? 0n
        if (end > start) next.set(p, start)
      }
      if (next.size === 0) return []
      const out: Array<InRecord & { partition: number }> = []
      // Fetch only: no group is joined, nothing is committed.
      const reader = new Consumer({ ...base, groupId: `${config.clientId}-read-${Math.random().toString(36).slice(2)}`, autocommit: false })
      const pool = fetchPool(config, 200)
      const deadline = Date.now() + timeoutMs
      const tracked = [reader, { connections: pool }]
      for (const t of tracked) readers.add(t)
      try {
        while (next.size > 0) {
          if (Date.now() > deadline) throw new Error(`reading ${topic} did not finish within ${timeoutMs} ms`)
          const md = await reader.metadata({ topics: [topic] })
          const t = md.topics.get(topic)
          if (!t) throw new Error(`topic ${topic} not found`)
          const byNode = new Map<number, Array<number>>()
          for (const p of next.keys()) {
            const leader = t.partitions[p]?.leader ?? -1
            byNode.set(leader, [...(byNode.get(leader) ?? []), p])
          }
          const responses = await Promise.all(
            [...byNode].map(([node, ps]) =>
              reader.fetch({
                node,
                maxWaitTime: 200,
                minBytes: 1,
                maxBytes: 64 * 1024 * 1024,
                connectionPool: pool,
                topics: [{ topicId: t.id, partitions: ps.map((p) => ({ partition: p, fetchOffset: next.get(p)!, partitionMaxBytes: 16 * 1024 * 1024, currentLeaderEpoch: -1, lastFetchedEpoch: -1 })) }],
              }),
            ),
          )
          for (const response of responses) {
            for (const tr of response.responses) {
              for (const pr of tr.partitions) {
                const at = next.get(pr.partitionIndex)
                const end = to.get(pr.partitionIndex)
                if (at === undefined || end === undefined || !pr.records) continue
                const { records, next: after } = decodeBatches(pr.records, at)
                for (const r of records) if (BigInt(r.offset) < end) out.push({ ...r, partition: pr.partitionIndex })
                if (after >= end) next.delete(pr.partitionIndex)
                else next.set(pr.partitionIndex, after)
              }
            }
          }
        }
      } finally {
        for (const t of tracked) readers.delete(t)
        await reader.close().catch(() => undefined)
        await pool.close().catch(() => undefined)
      }
      return out.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1))
    },
    async disconnect() {
      // Members still here were not closed gracefully (abort): leave without committing.
      clearInterval(watchdog)
      await Promise.allSettled([...members].map((m) => m.abort()))
      await Promise.allSettled([producer?.close(), admin.close(), probe?.close()])
    },
  }
  return client
}

/** The client's errors, for mapping to Omnibus' typed errors. */
export const errorKind = (e: unknown): "auth" | "connection" | "other" => {
  if (isAuth(e)) return "auth"
  if (errorTree(e).some((t) => /Network|Timeout/i.test(String(t.name)) || t.canRetry === true)) return "connection"
  return "other"
}
