/**
 * Consumer-group members on @platformatic/kafka (the rest of the client is
 * client.ts); the partition runner sees only the `Member` interface below.
 *
 * Why this client (the adapter was on kafkajs before): a member must be able
 * to hold a rebalance until the records it handed out are settled and
 * committed, while fetching and handing
 * out records continuously otherwise. kafkajs only rejoins after every batch
 * handler of a fetch returned, and fetches again only then, so one waiting
 * delivery stalls every partition. @platformatic/kafka calls an async
 * `protocolsMetadata` hook before every JoinGroup it sends (first join and
 * every rejoin after REBALANCE_IN_PROGRESS, eager protocol: every partition is
 * given up): that is the partitions-revoked hook. The broker accepts
 * OffsetCommit of the current generation while the group prepares the
 * rebalance, and a Heartbeat keeps the member alive meanwhile (the client
 * stops its own heartbeats while it rejoins), so the revoke hook commits the
 * settled prefix of every partition before the member rejoins.
 *
 * The fetch loop is our own (Consumer#fetch per leader), not MessagesStream:
 * a partition with a fetched response still waiting to be handed out is left
 * out of the next fetch (pausing at the prefetch bound), and a response that
 * started before a rebalance is dropped whole.
 */
import { Consumer, ConnectionPool, kGetApi, kGetBootstrapConnection, kGetConnection, type ClusterMetadata, type Connection, type RecordsBatch, type SASLOptions } from "@platformatic/kafka"
import type { CommittedOffset, InRecord } from "./client.ts"
import type { ConnectionConfig } from "./config.ts"
import { coordinatorOf, isTransient } from "./coordinator.ts"

export interface Assigned {
  readonly topic: string
  readonly partition: number
  /** The group's committed offset (where this member starts reading). */
  readonly offset: bigint
  readonly metadata: string | null
}

/** What the member drives; implemented by the adapter's partition runner. */
export interface MemberHandler {
  /** A new generation: these partitions are this member's until `revoke`. */
  assigned(partitions: ReadonlyArray<Assigned>): void
  /** Fetched records of one partition, in offset order. */
  records(topic: string, partition: number, records: ReadonlyArray<InRecord>): void
  /** True while the partition still has fetched records to hand out: left out of fetches. */
  paused(topic: string, partition: number): boolean
  /**
   * Before every (re)join and before leaving: stop handing out, wait for the
   * handed-out records to settle and commit them. Not called after abort.
   */
  revoke(): Promise<void>
}

export interface MemberOptions {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  readonly sessionTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly maxWaitMs: number
  /** The group's committed offsets with metadata (admin OffsetFetch). */
  readonly committed: (groupId: string, topic: string) => Promise<ReadonlyArray<CommittedOffset>>
}

export interface Member {
  /** Joins the group; resolves once the first assignment is in place. */
  start(): Promise<void>
  /** OffsetCommit (next offset to read + metadata) for the current generation; rejects if not a member of it. */
  commit(topic: string, partition: number, offset: bigint, metadata: string): Promise<void>
  /** Keep-alive while `revoke` waits (the client stops heartbeating while it rejoins). */
  heartbeat(): Promise<void>
  /** A paused partition has room again. */
  wake(): void
  /** Graceful: revoke (commit), leave the group. */
  disconnect(): Promise<void>
  /** Crash: leave without committing anything. */
  abort(): Promise<void>
  /** Dead link (heartbeat): destroys every connection of the member; requests on them fail and the client reconnects. */
  dropConnections(): void
}

type FetchOptionsOf = Parameters<Consumer["fetch"]>[0]
type FetchRequestTopic = FetchOptionsOf["topics"][number]
type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>

const SASL_MECHANISMS = { plain: "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512" } as const

const headersOf = (h: ReadonlyArray<[Buffer | null, Buffer | null]>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of h) if (k !== null && v !== null) out[k.toString("utf8")] = v.toString("utf8")
  return out
}

/** Round robin under kafkajs' protocol name: kafkajs consumers (other services, older Omnibus) can share a group with these. */
const PROTOCOLS = [{ name: "RoundRobinAssigner", version: 0 }]

const IS_CONTROL = 0b10_0000
const EARLIEST = -2n

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Client options shared by every @platformatic/kafka client of the adapter (TLS, SASL, timeouts). */
export const platformaticOptions = (config: ConnectionConfig): { clientId: string; bootstrapBrokers: string[] } & Record<string, unknown> => {
  const base: { clientId: string; bootstrapBrokers: string[] } & Record<string, unknown> = {
    clientId: config.clientId,
    bootstrapBrokers: [...config.brokers],
    connectTimeout: 3_000,
    requestTimeout: config.requestTimeoutMs,
    retries: 10,
    retryDelay: 100,
  }
  if (config.ssl !== undefined && config.ssl !== false) base.tls = config.ssl === true ? {} : config.ssl
  if (config.sasl) {
    const sasl: SASLOptions = { mechanism: SASL_MECHANISMS[config.sasl.mechanism], username: config.sasl.username, password: config.sasl.password }
    base.sasl = sasl
  }
  return base
}

/** A pool for long-polling fetches (same TLS/SASL), apart from the client's own connections; a fetch may take `maxWaitMs` longer. */
export const fetchPool = (config: ConnectionConfig, maxWaitMs: number): ConnectionPool => {
  const { clientId: _c, bootstrapBrokers: _b, retries: _r, retryDelay: _d, ...connectionOptions } = platformaticOptions(config)
  return new ConnectionPool(config.clientId, { ...connectionOptions, requestTimeout: config.requestTimeoutMs + maxWaitMs })
}

/** Destroys every socket of a pool: in-flight and queued requests fail with a NetworkError, the pool forgets them, the next request reconnects. */
export const destroyConnections = (pool: ConnectionPool): void => {
  for (const [, connection] of pool) connection.socket?.destroy()
}

/** Decodes a fetched partition's record batches: records at or after `from`, and the next offset to fetch. */
export const decodeBatches = (batches: ReadonlyArray<RecordsBatch>, from: bigint): { readonly records: Array<InRecord>; readonly next: bigint } => {
  const records: Array<InRecord> = []
  let next = from
  for (const batch of batches) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    if (last + 1n > next) next = last + 1n
    if (batch.attributes & IS_CONTROL) continue
    for (const r of batch.records) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta)
      if (offset < from) continue
      records.push({
        offset: String(offset),
        key: r.key === null ? undefined : r.key.toString("utf8"),
        value: r.value === null ? new Uint8Array(0) : new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        headers: headersOf(r.headers),
        timestamp: Number(batch.firstTimestamp + r.timestampDelta),
      })
    }
  }
  return { records, next }
}

export const makeMember = (config: ConnectionConfig, options: MemberOptions, handler: MemberHandler): Member => {
  const baseOptions = platformaticOptions(config)
  const rebalanceTimeout = Math.max(60_000, options.sessionTimeoutMs)
  // Fetches long-poll: on their own connections, so commits and heartbeats never queue behind one.
  const fetches = fetchPool(config, options.maxWaitMs)
  let generationEpoch = 0
  let active: { readonly epoch: number; readonly offsets: Map<string, { topic: string; partition: number; next: bigint }> } | undefined
  let closed = false
  let aborted = false
  let wakeLoop: (() => void) | undefined
  let firstAssigned: (() => void) | undefined
  let firstFailed: ((e: unknown) => void) | undefined
  const firstAssignment = new Promise<void>((resolve, reject) => {
    firstAssigned = resolve
    firstFailed = reject
  })
  firstAssignment.catch(() => undefined)

  let inHook = 0
  let hookDone: Promise<void> = Promise.resolve()
  const revokeHook = async (): Promise<Buffer> => {
    generationEpoch++
    active = undefined
    inHook++
    const revoking = aborted ? Promise.resolve() : handler.revoke()
    hookDone = revoking.catch(() => undefined)
    try {
      await revoking
    } finally {
      inHook--
    }
    return Buffer.alloc(0)
  }

  const consumer = new Consumer({
    ...baseOptions,
    // JoinGroup is answered only once every member rejoined (up to the rebalance timeout), like
    // Java's client; a dead coordinator link is the heartbeat's to find (dropConnections)
    requestTimeout: Math.max(config.requestTimeoutMs, rebalanceTimeout + 5_000),
    groupId: options.groupId,
    autocommit: false,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: options.heartbeatIntervalMs,
    rebalanceTimeout,
    protocols: PROTOCOLS,
    protocolsMetadata: () => revokeHook(),
  })
  consumer.topics.trackAll(...options.topics)
  const joinOptions = { sessionTimeout: options.sessionTimeoutMs, heartbeatInterval: options.heartbeatIntervalMs, rebalanceTimeout, protocols: PROTOCOLS }
  // The client reports a failed rejoin (after its own retries) as an 'error' event and stops
  // heartbeating: join again, so a broker outage longer than the client's retries does not
  // leave a member without partitions for good.
  let rejoinTimer: NodeJS.Timeout | undefined
  consumer.on("error" as never, (() => {
    if (closed || active !== undefined || inHook > 0 || rejoinTimer !== undefined) return
    rejoinTimer = setTimeout(() => {
      rejoinTimer = undefined
      if (!closed && active === undefined && inHook === 0) consumer.joinGroup({ ...joinOptions }).catch(() => undefined)
    }, 1_000)
  }) as never)

  const onJoin = async (assignments: ReadonlyArray<{ topic: string; partitions: ReadonlyArray<number> }>) => {
    const epoch = ++generationEpoch
    const parts: Array<Assigned> = []
    for (const a of assignments) {
      if (a.partitions.length === 0) continue
      const committed = await options.committed(options.groupId, a.topic)
      let earliest: Map<string, bigint[]> | undefined
      for (const p of a.partitions) {
        const c = committed.find((x) => x.partition === p)
        let offset = c?.offset ?? -1n
        if (offset < 0n) {
          earliest ??= await consumer.listOffsets({ topics: [a.topic], timestamp: EARLIEST })
          offset = earliest.get(a.topic)?.[p] ?? 0n
        }
        parts.push({ topic: a.topic, partition: p, offset, metadata: c?.metadata ?? null })
      }
    }
    if (epoch !== generationEpoch || closed) return
    handler.assigned(parts)
    active = { epoch, offsets: new Map(parts.map((p) => [`${p.topic}|${p.partition}`, { topic: p.topic, partition: p.partition, next: p.offset }])) }
    firstAssigned?.()
    wakeLoop?.()
  }
  consumer.on("consumer:group:join", (payload) => {
    onJoin(payload.assignments ?? []).catch((e: unknown) => {
      firstFailed?.(e)
      // The next heartbeat error or fetch round retries; make the group rebalance by rejoining.
      if (!closed) consumer.joinGroup({ ...joinOptions }).catch(() => undefined)
    })
  })

  const callbackApi = <T>(fn: (cb: (error: Error | null, value?: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value as T))))

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type AnyApi = { async: (connection: Connection, ...args: Array<any>) => Promise<any> }
  const api = (name: string): Promise<AnyApi> => callbackApi<AnyApi>((cb) => consumer[kGetApi](name, cb as never))

  // The group's coordinator for our commits and keep-alive heartbeats (coordinator.ts).
  const coordinator = coordinatorOf({
    find: async () => {
      const connection = await callbackApi<Connection>((cb) => consumer[kGetBootstrapConnection](cb))
      const response = (await (await api("FindCoordinator")).async(connection, 0, [options.groupId])) as {
        readonly coordinators: ReadonlyArray<{ readonly key?: string; readonly nodeId: number }>
      }
      return (response.coordinators.find((c) => c.key === options.groupId) ?? response.coordinators[0])?.nodeId ?? -1
    },
    brokers: async () => (await consumer.metadata({ topics: [] })).brokers,
    connect: (broker) => callbackApi<Connection>((cb) => consumer[kGetConnection](broker, cb)),
  })
  /** A request to the coordinator failed without a verdict on the membership: look it up again, on fresh metadata. */
  const forgetCoordinator = (): void => {
    coordinator.forget()
    consumer.clearMetadata()
  }

  // One OffsetCommit request carries every partition's commit of the moment: the coordinator
  // answers a connection's requests one at a time (an OffsetCommit took ~27 ms on the bench's
  // broker with Kafka 4's default group.coordinator.append.linger.ms of 5 ms, 0.4 ms per produce),
  // so a request per partition queued each partition's commit behind the others', and the
  // hand-out grant (partitions.ts), when a hand-out has to wait for it, waited for all of them.
  interface QueuedCommit {
    readonly topic: string
    readonly partition: number
    offset: bigint
    metadata: string | null
    readonly generationId: number
    readonly memberId: string
    readonly waiters: Array<{ readonly resolve: () => void; readonly reject: (e: unknown) => void }>
  }
  let commitQueue = new Map<string, QueuedCommit>()
  let committing = false

  const commitRequest = async (generationId: number, memberId: string, entries: ReadonlyArray<QueuedCommit>): Promise<void> => {
    const topics = new Map<string, Array<{ partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }>>()
    for (const e of entries) {
      let list = topics.get(e.topic)
      if (!list) topics.set(e.topic, (list = []))
      list.push({ partitionIndex: e.partition, committedOffset: e.offset, committedLeaderEpoch: -1, committedMetadata: e.metadata })
    }
    for (let backoff = 50; ; backoff = Math.min(backoff * 2, 1_000)) {
      if (aborted) throw new Error("member aborted")
      try {
        const connection = await coordinator.connection()
        const commitApi = await api("OffsetCommit")
        await commitApi.async(connection, options.groupId, generationId, memberId, null, [...topics].map(([name, partitions]) => ({ name, partitions })))
        return
      } catch (e) {
        // A lost connection (cut, dropped by the heartbeat, broker restarting) is no verdict on the
        // membership: commit again on a new one. Only the broker's refusal ends this generation here.
        if (closed || !isTransient(e)) throw e
        forgetCoordinator()
        await sleep(backoff)
      }
    }
  }

  const sendCommits = async (): Promise<void> => {
    if (committing) return
    committing = true
    try {
      while (commitQueue.size > 0) {
        const batch = commitQueue
        commitQueue = new Map()
        const byGeneration = new Map<string, Array<QueuedCommit>>()
        for (const c of batch.values()) {
          const g = `${c.generationId}|${c.memberId}`
          const list = byGeneration.get(g)
          if (list) list.push(c)
          else byGeneration.set(g, [c])
        }
        await Promise.all([...byGeneration.values()].map(async (entries) => {
          try {
            await commitRequest(entries[0]!.generationId, entries[0]!.memberId, entries)
            for (const c of entries) for (const w of c.waiters) w.resolve()
          } catch (e) {
            for (const c of entries) for (const w of c.waiters) w.reject(e)
          }
        }))
      }
    } finally {
      committing = false
    }
  }

  // A partition is fetched at most one response ahead of the records being handed out (partitions.ts),
  // so two responses per partition is what a member holds: Kafka's own consumer defaults (1 MiB per
  // partition, 50 MiB per fetch) keep that bounded; 16 MiB per partition grew a consumer with a
  // 100,000-message backlog to 605 MiB. The broker still returns a larger first batch whole.
  const PARTITION_FETCH_BYTES = 1024 * 1024
  const FETCH_BYTES = 50 * 1024 * 1024
  const fetchLoop = async () => {
    let backoff = 50
    while (!closed) {
      const gen = active
      if (!gen) {
        await new Promise<void>((resolve) => {
          wakeLoop = resolve
          setTimeout(resolve, options.maxWaitMs)
        })
        continue
      }
      const wanted = [...gen.offsets.values()].filter((p) => !handler.paused(p.topic, p.partition))
      if (wanted.length === 0) {
        await new Promise<void>((resolve) => {
          wakeLoop = resolve
          setTimeout(resolve, options.maxWaitMs)
        })
        continue
      }
      // A fetch answers within its long-poll time; one that is still out a heartbeat period
      // later sits on a frozen link the transport's probe (its own connection) may not see:
      // drop this member's connections so the loop retries on new ones (half-open links).
      const stuck = config.heartbeatMs > 0 ? setTimeout(() => {
        destroyConnections(consumer.connections)
        destroyConnections(fetches)
      }, options.maxWaitMs + config.heartbeatMs) : undefined
      try {
        const md: ClusterMetadata = await consumer.metadata({ topics: [...options.topics] })
        const byNode = new Map<number, Map<string, FetchRequestTopic>>()
        const topicNames = new Map<string, string>()
        for (const p of wanted) {
          const t = md.topics.get(p.topic)
          const pm = t?.partitions[p.partition]
          if (!t || !pm) continue
          topicNames.set(t.id, p.topic)
          let topics = byNode.get(pm.leader)
          if (!topics) byNode.set(pm.leader, (topics = new Map()))
          let rt = topics.get(t.id)
          if (!rt) topics.set(t.id, (rt = { topicId: t.id, partitions: [] }))
          rt.partitions.push({ partition: p.partition, fetchOffset: p.next, partitionMaxBytes: PARTITION_FETCH_BYTES, currentLeaderEpoch: -1, lastFetchedEpoch: -1 })
        }
        const responses = await Promise.all(
          [...byNode].map(([node, topics]) =>
            consumer.fetch({ node, topics: [...topics.values()], maxWaitTime: options.maxWaitMs, minBytes: 1, maxBytes: FETCH_BYTES, connectionPool: fetches }),
          ),
        )
        if (active !== gen || closed) continue // a rebalance started meanwhile: the new generation re-reads from the committed offsets
        for (const response of responses as Array<FetchResponse>) {
          for (const tr of response.responses) {
            const topic = topicNames.get(tr.topicId)
            if (topic === undefined) continue
            for (const pr of tr.partitions) {
              const pos = gen.offsets.get(`${topic}|${pr.partitionIndex}`)
              if (!pos || !pr.records || pr.records.length === 0) continue
              const { records: out, next } = decodeBatches(pr.records, pos.next)
              pos.next = next
              if (out.length > 0) handler.records(topic, pr.partitionIndex, out)
            }
          }
        }
        backoff = 50
      } catch (e) {
        clearTimeout(stuck)
        if (closed) return
        if (JSON.stringify((e as { errors?: unknown }).errors ?? "").includes("OFFSET_OUT_OF_RANGE") || String(e).includes("OFFSET_OUT_OF_RANGE")) {
          // Retention removed what we were to read: start at the log start.
          for (const p of gen.offsets.values()) {
            const earliest = await consumer.listOffsets({ topics: [p.topic], timestamp: EARLIEST }).catch(() => undefined)
            const low = earliest?.get(p.topic)?.[p.partition]
            if (low !== undefined && p.next < low) p.next = low
          }
        }
        consumer.clearMetadata()
        await sleep(backoff)
        backoff = Math.min(backoff * 2, 1_000)
      } finally {
        clearTimeout(stuck)
      }
    }
  }

  let loop: Promise<void> | undefined

  return {
    async start() {
      await consumer.joinGroup({ ...joinOptions })
      await firstAssignment
      loop = fetchLoop()
    },
    commit(topic, partition, offset, metadata) {
      return new Promise<void>((resolve, reject) => {
        // For the generation the records were fetched in: after a rebalance the broker refuses it.
        const generationId = consumer.generationId
        const memberId = consumer.memberId ?? ""
        const key = `${topic}|${partition}|${generationId}|${memberId}`
        const queuedOne = commitQueue.get(key)
        if (queuedOne) {
          // a later call carries the partition's newer state
          queuedOne.offset = offset
          queuedOne.metadata = metadata
          queuedOne.waiters.push({ resolve, reject })
        } else commitQueue.set(key, { topic, partition, offset, metadata, generationId, memberId, waiters: [{ resolve, reject }] })
        // calls of this turn go in one request
        if (!committing) queueMicrotask(() => void sendCommits())
      })
    },
    async heartbeat() {
      try {
        const connection = await coordinator.connection()
        const hb = await api("Heartbeat")
        await hb.async(connection, options.groupId, consumer.generationId, consumer.memberId ?? "", null)
      } catch (e) {
        if (isTransient(e)) forgetCoordinator()
        throw e
      }
    },
    wake() {
      wakeLoop?.()
    },
    async disconnect() {
      if (closed) return
      if (!aborted && active) {
        generationEpoch++
        active = undefined
        await handler.revoke().catch(() => undefined)
      } else if (!aborted && inHook > 0) {
        // Closing mid-rebalance: let the revoke hook commit before leaving.
        await hookDone
      }
      closed = true
      clearTimeout(rejoinTimer)
      wakeLoop?.()
      firstFailed?.(new Error("consumer closed"))
      await consumer.close(true).catch(() => undefined)
      await fetches.close().catch(() => undefined)
      await loop?.catch(() => undefined)
    },
    async abort() {
      aborted = true
      await this.disconnect()
    },
    dropConnections() {
      destroyConnections(consumer.connections)
      destroyConnections(fetches)
    },
  }
}
