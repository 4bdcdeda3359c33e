/**
 * Event groups. One topic carries every event (routing key in a header), or
 * the topics `eventTopics` maps patterns to (event-topics.ts); a group is a
 * Kafka consumer group on the topics its patterns can reach that filters with
 * core's `matchesAny`. Retries go to the group's own retry topic, read by a second
 * consumer group of the same members (so a waiting retry never holds back the
 * event partitions); dead letters to the group's DLQ topic.
 */
import { failureToHeaders, matchesAny, type Envelope } from "@omnibus/core/adapter"
import type { ConsumeSpec, Consumption, Delivery, FailureMetadata, GroupSpec } from "@omnibus/core/adapter"
import { newRunState, sleep, Slots, wakeAll, type RunState } from "./batch.ts"
import type { InRecord, KafkaClient } from "./client.ts"
import type { Member } from "./group-consumer.ts"
import { PartitionRunner, type HandedFrom, type Settle } from "./partitions.ts"
import type { Names } from "./config.ts"
import type { EventTopics } from "./event-topics.ts"
import type { SendQueue } from "./send-queue.ts"
import type { Topology } from "./topology.ts"
import { DUE_HEADER, fromRecord, recordAttempt, recordDue, recordFirstFailure, toRecord } from "./wire.ts"
import { Wire } from "@omnibus/core/adapter"

export interface ConsumerDeps {
  readonly client: KafkaClient
  readonly topology: Topology
  readonly names: Names
  readonly eventTopics: EventTopics
  readonly leaseMs: number
  /** Session of RPC server members (config.ts). */
  readonly rpcLeaseMs: number
  readonly partitions: number
  /** Transport-wide: set on abort(). */
  readonly transportState: RunState
  /** Publishes, RPC requests and replies, coalesced per topic (send-queue.ts). */
  readonly sends: SendQueue
  /** Every open consumption, so abort()/close() reach them. */
  readonly registry: Set<{ readonly state: RunState; close(): Promise<void> }>
}

export const timings = (leaseMs: number) => {
  const heartbeatIntervalMs = Math.max(100, Math.floor(leaseMs / 5))
  return { sessionTimeoutMs: leaseMs, heartbeatIntervalMs, maxWaitMs: Math.min(1_000, heartbeatIntervalMs) }
}

/** Creates the group's topics and start offsets; resolves with the event topics its patterns can reach (the ones it reads). */
export const declareGroup = async (deps: ConsumerDeps, spec: GroupSpec): Promise<ReadonlyArray<string>> => {
  const { names, topology } = deps
  const topics = deps.eventTopics.topicsFor(spec.patterns)
  await Promise.all([topology.ensureTopics([...topics, names.retry(spec.group)]), topology.ensureTopics([names.dlq(spec.group)], 1)])
  await Promise.all(topics.map((topic) => topology.startAtEnd(names.groupId(spec.group), topic)))
  return topics
}

export const consume = async (deps: ConsumerDeps, spec: ConsumeSpec, onDelivery: (d: Delivery) => void): Promise<Consumption> => {
  const { client, names, topology } = deps
  const eventTopics = await declareGroup(deps, spec)
  const retryTopic = names.retry(spec.group)
  const dlqTopic = names.dlq(spec.group)
  const state = newRunState()
  const slots = new Slots(spec.prefetch)
  const t = timings(deps.leaseMs)
  const dead = () => state.aborted || deps.transportState.aborted
  const fallbackKey = (topic: string) => deps.eventTopics.fallbackKey(topic)

  // The main runner's routing check builds each record's envelope; its delivery takes that one instead of a second.
  const checked = new WeakMap<InRecord, Envelope>()
  const envelopeOf = (topic: string, partition: number, rec: InRecord): Envelope => fromRecord(topic, partition, rec, fallbackKey(topic))

  const makeDelivery = (from: HandedFrom, rec: InRecord, extra: number, settle: Settle, beginSolo: () => Promise<number>): Delivery => {
    const { topic, partition } = from
    const envelope: Envelope = checked.get(rec) ?? envelopeOf(topic, partition, rec)
    checked.delete(rec)
    // the attempt header counts handler failures; `extra` is what a crashed member's grant counts (partitions.ts)
    const attempt = recordAttempt(rec)
    let done = false
    const finish = async (work?: () => Promise<void>) => {
      if (done || dead()) return
      if (work) {
        try {
          await untilSent(work)
        } catch (e) {
          // The consumption ends with the move not made: the record is left uncommitted for the
          // partition's next owner, and revoke() (close) must not wait for it.
          if (!done) {
            done = true
            slots.release()
            settle("abandoned")
          }
          throw e
        }
      }
      if (done) return
      done = true
      slots.release()
      settle()
    }
    const toRetry = (nextAttempt: number, delayMs: number, firstFailureAt: number | undefined) => {
      const extraHeaders: Record<string, string> = { [Wire.attempt]: String(nextAttempt), [DUE_HEADER]: String(Date.now() + delayMs) }
      if (firstFailureAt !== undefined) extraHeaders[Wire.firstFailure] = String(firstFailureAt)
      return client.send(retryTopic, [toRecord(envelope, extraHeaders)])
    }
    return {
      envelope,
      attempt,
      redeliveries: extra,
      firstFailureAt: recordFirstFailure(rec),
      beginSolo,
      ack: () => finish(),
      retry: ({ delayMs, firstFailureAt }) => finish(() => toRetry(attempt + 1, delayMs, firstFailureAt)),
      // Back through the retry topic (due now, same attempt) rather than left uncommitted: later records of the partition stay settled.
      // From a partition this member lost, no copy: no commit passes the record now, its next owner reads it.
      release: () => (from.dead ? finish() : finish(() => toRetry(attempt, 0, recordFirstFailure(rec)))),
      deadLetter: (failure: FailureMetadata) => finish(() => client.send(dlqTopic, [toRecord(envelope, failureToHeaders(failure))])),
    }
  }

  /**
   * A retry or dead-letter move (a produce) that failed, e.g. while the broker is down for longer
   * than the client's retries, is made again while the consumption runs: this member keeps the
   * partition, so nobody would read the record again, and revoke() waits for it. Gives up (throws)
   * once the consumption is stopped, closed or aborted.
   */
  const untilSent = async (work: () => Promise<void>): Promise<void> => {
    for (let pause = 200; ; pause = Math.min(pause * 2, 2_000)) {
      try {
        return await work()
      } catch (e) {
        if (state.stopped || dead()) throw e
        await sleep(pause, state)
        if (state.stopped || dead()) throw e
      }
    }
  }

  const slotOptions = {
    window: spec.prefetch,
    acquire: async (cancel: RunState) => {
      if (!(await slots.acquire(cancel))) return false
      if (state.stopped || dead()) {
        slots.release()
        return false
      }
      return true
    },
    tryAcquire: () => !state.stopped && !dead() && slots.tryAcquire(),
    releaseSlot: () => slots.release(),
    deliver: (rec: InRecord, extra: number, settle: Settle, from: HandedFrom, beginSolo: () => Promise<number>) => onDelivery(makeDelivery(from, rec, extra, settle, beginSolo)),
  }
  const mainRunner = new PartitionRunner({
    state,
    heartbeatMs: t.heartbeatIntervalMs,
    accepts: (rec, from) => {
      const envelope = envelopeOf(from.topic, from.partition, rec)
      if (!matchesAny(spec.patterns, envelope.routingKey)) return false
      checked.set(rec, envelope)
      return true
    },
    ...slotOptions,
  })
  const retryRunner = new PartitionRunner({ state, heartbeatMs: t.heartbeatIntervalMs, dueAt: recordDue, ...slotOptions })

  const consumers: Array<Member> = [
    client.member({ groupId: names.groupId(spec.group), topics: eventTopics, ...t }, mainRunner),
    client.member({ groupId: names.retryGroupId(spec.group), topics: [retryTopic], ...t }, retryRunner),
  ]
  mainRunner.attach(consumers[0]!)
  retryRunner.attach(consumers[1]!)
  const onTransportAbort = () => {
    state.aborted = true
    wakeAll(state)
  }
  deps.transportState.wake.addEventListener("wake", onTransportAbort)

  let closed: Promise<void> | undefined
  const entry = {
    state,
    close: () => {
      closed ??= (async () => {
        state.stopped = true
        wakeAll(state)
        deps.transportState.wake.removeEventListener("wake", onTransportAbort)
        await Promise.allSettled(consumers.map((c) => c.disconnect()))
        deps.registry.delete(entry)
        if (spec.ephemeral && !deps.transportState.aborted) {
          await topology.deleteGroups([names.groupId(spec.group), names.retryGroupId(spec.group)])
          await topology.deleteTopics([retryTopic, dlqTopic])
        }
      })()
      return closed
    },
  }
  deps.registry.add(entry)
  try {
    await Promise.all(consumers.map((c) => c.start()))
  } catch (e) {
    await entry.close().catch(() => undefined)
    throw e
  }
  return {
    stop: async () => {
      state.stopped = true
      wakeAll(state)
    },
    close: () => entry.close(),
  }
}
