/**
 * The topology report on NATS (core's TopologyReport), from JetStream stream
 * and consumer info: the adapter's streams with their message counts; per
 * group its consumer on the events stream (num_pending = ready,
 * num_ack_pending = unacked, which includes messages waiting for a delayed
 * retry, num_waiting = pull requests), its replay consumer and its dead-letter
 * subject. Names come from topology.ts. Read only: a missing stream is
 * reported missing, not created.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream"
import { BrokerError, reportedNames, type BrokerObject, type GroupTopology, type TopologyReporter } from "@omnibus/core/adapter"
import { parseSettings } from "./config.ts"
import { openConnection, reasonOf } from "./connection.ts"
import { encodeGroup, EPHEMERAL_MARK, isNotFound } from "./topology.ts"

/** Consumer name → group: enc(G) replaces "." by "~" ("~" is never in a group name); ephemeral ones end in ~eph~<id>. */
const groupOf = (consumer: string): { readonly group: string; readonly ephemeral: boolean } => {
  const at = consumer.indexOf(EPHEMERAL_MARK)
  const enc = at < 0 ? consumer : consumer.slice(0, at)
  return { group: enc.replaceAll("~", "."), ephemeral: at >= 0 }
}

/** A durable group consumer's description (topology.ts) names its patterns. */
const patternsOf = (c: ConsumerInfo): ReadonlyArray<string> | undefined => {
  const m = /patterns (\[.*\])$/.exec(c.config.description ?? "")
  if (!m) return undefined
  try {
    const parsed: unknown = JSON.parse(m[1]!)
    return Array.isArray(parsed) && parsed.every((p) => typeof p === "string") ? parsed : undefined
  } catch {
    return undefined
  }
}

const streamInfo = async (jsm: JetStreamManager, name: string, subjects?: string): Promise<StreamInfo | undefined> => {
  try {
    return await jsm.streams.info(name, subjects === undefined ? undefined : { subjects_filter: subjects })
  } catch (e) {
    if (isNotFound(e)) return undefined
    throw new BrokerError({ operation: `stream info ${name}`, reason: reasonOf(e), cause: e })
  }
}

const consumersOf = async (jsm: JetStreamManager, stream: string): Promise<ReadonlyArray<ConsumerInfo>> => {
  const out: Array<ConsumerInfo> = []
  try {
    for await (const c of jsm.consumers.list(stream)) out.push(c)
  } catch (e) {
    if (!isNotFound(e)) throw new BrokerError({ operation: `list consumers of ${stream}`, reason: reasonOf(e), cause: e })
  }
  return out
}

const consumerObject = (stream: string, c: ConsumerInfo, role: BrokerObject["role"]): BrokerObject => ({
  kind: "consumer",
  name: `${stream}/${c.name}`,
  role,
  ready: c.num_pending,
  unacked: c.num_ack_pending,
  waiting: c.num_waiting,
  detail: `filter ${c.config.filter_subject ?? "(none)"}${c.num_redelivered > 0 ? `, ${c.num_redelivered} redelivered` : ""}`,
})

export const topologyReport: TopologyReporter = async (url, query = {}, options = {}) => {
  const s = parseSettings(url, query.namespace === undefined ? options : { ...options, stream: query.namespace })
  const nc = await openConnection(s)
  try {
    const jsm = await jetstreamManager(nc)
    const streams: ReadonlyArray<readonly [string, BrokerObject["role"]]> = [
      [s.stream, "events"],
      [s.deadLetterStream, "dead-letters"],
      [s.replayStream, "replay"],
      [s.failureStream, "bookkeeping"],
      [s.blobStream, "bookkeeping"],
    ]
    const shared: Array<BrokerObject> = []
    const notes: Array<string> = ["RPC runs on core NATS request/reply: nothing of it is stored on the server"]
    for (const [name, role] of streams) {
      const info = await streamInfo(jsm, name)
      if (info === undefined) notes.push(`stream ${name} does not exist (created by the first bus that connects)`)
      else shared.push({ kind: "stream", name, role, messages: info.state.messages, consumers: info.state.consumer_count, detail: `${info.config.retention} retention` })
    }
    const [events, replays] = await Promise.all([consumersOf(jsm, s.stream), consumersOf(jsm, s.replayStream)])
    const deadLetters = (await streamInfo(jsm, s.deadLetterStream, `${s.deadLetterStream}.>`))?.state.subjects ?? {}
    const dlqPrefix = `${s.deadLetterStream}.`
    // Groups are the consumers of the events stream: the replay and dead-letter streams are shared
    // by every events stream (every namespace) by default, so what they hold names no namespace.
    const groups: Array<GroupTopology> = reportedNames(events.map((c) => groupOf(c.name).group), query.groups).map((group) => {
      const mine = (c: ConsumerInfo) => groupOf(c.name).group === group
      const consumers = events.filter(mine)
      const dlqSubject = `${dlqPrefix}${encodeGroup(group)}`
      const objects: Array<BrokerObject> = [
        ...consumers.map((c) => consumerObject(s.stream, c, "group")),
        ...replays.filter(mine).map((c) => consumerObject(s.replayStream, c, "replay")),
        ...(deadLetters[dlqSubject] !== undefined ? [{ kind: "subject" as const, name: dlqSubject, role: "dead-letters" as const, messages: deadLetters[dlqSubject] }] : []),
      ]
      const patterns = consumers.map(patternsOf).find((p) => p !== undefined)
      const ephemeral = consumers.length > 0 && consumers.every((c) => groupOf(c.name).ephemeral)
      return { group, ...(patterns !== undefined ? { patterns } : {}), ...(ephemeral ? { ephemeral } : {}), objects }
    })
    const methods = reportedNames([], query.methods).map((method) => ({ method, objects: [] }))
    return { transport: "nats", namespace: `events stream "${s.stream}", dead letters in "${s.deadLetterStream}"`, shared, groups, methods, notes }
  } finally {
    await nc.close().catch(() => undefined)
  }
}
