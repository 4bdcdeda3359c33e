/**
 * The topology report on Kafka (core's TopologyReport), through the admin
 * client the adapter uses: the topics and consumer groups of one prefix
 * (names in config.ts). Per group: its consumer group on the event topics
 * it reads (<prefix>.events, topics eventTopics maps: event-topics.ts) with its lag (end offsets minus committed offsets) and members, its retry
 * topic and group, and its dead-letter topic; per RPC method: its topic and
 * server groups. Kafka does not tell delivered-but-unacknowledged records:
 * they are part of the lag until committed. Read only.
 */
import { InvalidOptions, reportedNames, type BrokerObject, type TopologyReporter } from "@omnibus/core/adapter"
import type { KafkaClient } from "./client.ts"
import { fromTopicWord, names, parseConfig } from "./config.ts"
import { openClient } from "./transport.ts"

type Offsets = ReadonlyArray<{ readonly partition: number; readonly low: bigint; readonly high: bigint }>

const sum = (values: ReadonlyArray<bigint>): number => Number(values.reduce((a, b) => a + b, 0n))

/** Records stored from `from` (per partition; default the low watermark) to the end. */
const stored = (offsets: Offsets, from?: ReadonlyMap<number, bigint>): number =>
  sum(offsets.map((o) => {
    const start = from?.get(o.partition) ?? o.low
    return o.high - (start > o.low ? start : o.low)
  }))

const committedOf = async (client: KafkaClient, groupId: string, topic: string): Promise<ReadonlyMap<number, bigint>> =>
  new Map((await client.committed(groupId, topic)).filter((c) => c.offset >= 0n).map((c) => [c.partition, c.offset]))

export const topologyReport: TopologyReporter = async (url, query = {}, options = {}) => {
  const config = parseConfig(url, options)
  if (query.namespace !== undefined && !/^[A-Za-z0-9-]+$/.test(query.namespace)) {
    throw new InvalidOptions({ option: "namespace", reason: "a Kafka topic prefix: letters, digits and - only" })
  }
  const prefix = query.namespace ?? config.prefix
  const n = names(prefix)
  const client = await openClient(config)
  try {
    const [topicList, groupList] = await Promise.all([client.listTopics(), client.listGroups()])
    const topics = new Set(topicList.filter((t) => t.startsWith(`${prefix}.`)))
    const groupIds = groupList.filter((g) => g.startsWith(`${prefix}/`))
    const members = await client.groupMembers(groupIds)
    const offsets = new Map<string, Offsets>()
    const offsetsOf = async (topic: string): Promise<Offsets> => {
      let o = offsets.get(topic)
      if (o === undefined) offsets.set(topic, (o = await client.endOffsets(topic)))
      return o
    }
    const existing = new Set(topicList)
    // Events live in <prefix>.events and in the topics eventTopics maps patterns to (event-topics.ts).
    const eventTopicNames = [n.events, ...config.eventTopics.mapped].filter((t) => existing.has(t))
    /** A consumer group reading some of `readable` (those it committed offsets on): its lag (undefined before it committed anything) and members. */
    const consumerGroup = async (groupId: string, readable: ReadonlyArray<string>, role: BrokerObject["role"]): Promise<BrokerObject> => {
      const read: Array<string> = []
      let lag = 0
      for (const topic of readable.filter((t) => existing.has(t))) {
        const committed = await committedOf(client, groupId, topic)
        if (committed.size === 0) continue
        read.push(topic)
        lag += sum((await offsetsOf(topic)).map((o) => o.high - (committed.get(o.partition) ?? o.high)))
      }
      return {
        kind: "consumer-group",
        name: groupId,
        role,
        ...(read.length > 0 ? { lag } : {}),
        consumers: members.get(groupId) ?? 0,
        detail: `reads ${(read.length > 0 ? read : readable.slice(0, 1)).join(", ")}`,
      }
    }
    const topic = async (name: string, role: BrokerObject["role"], detail?: string, from?: ReadonlyMap<number, bigint>): Promise<BrokerObject> => {
      const o = await offsetsOf(name)
      return { kind: "topic", name, role, messages: stored(o, from), detail: detail ?? `${o.length} partition${o.length === 1 ? "" : "s"}` }
    }

    // Consumer group ids: <p>/<group>, <p>/<group>/retry, <p>/<group>/dlq, <p>/rpc/<method>/<group>, <p>/reply/<client>.
    const parts = groupIds.map((id) => id.slice(prefix.length + 1).split("/"))
    const rpcServerGroups = parts.filter((p) => p.length === 3 && p[0] === "rpc")
    const foundGroups = [
      ...parts.filter((p) => p.length === 1 || (p.length === 2 && (p[1] === "retry" || p[1] === "dlq"))).map((p) => p[0]!),
      ...[...topics].flatMap((t) => {
        const m = new RegExp(`^${prefix}\\.g\\.(.+)\\.(retry|dlq)$`).exec(t)
        const group = m ? fromTopicWord(m[1]!) : undefined
        return group === undefined ? [] : [group]
      }),
    ]
    const groups = []
    for (const group of reportedNames(foundGroups, query.groups)) {
      const objects: Array<BrokerObject> = []
      if (groupIds.includes(n.groupId(group))) objects.push(await consumerGroup(n.groupId(group), eventTopicNames.length > 0 ? eventTopicNames : [n.events], "group"))
      if (topics.has(n.retry(group))) objects.push(await topic(n.retry(group), "retry"))
      if (groupIds.includes(n.retryGroupId(group))) objects.push(await consumerGroup(n.retryGroupId(group), [n.retry(group)], "retry"))
      if (topics.has(n.dlq(group))) {
        // A purge moves the start to the dead-letter group's committed offsets (dead-letters.ts).
        const purgedTo = groupIds.includes(n.dlqGroupId(group)) ? await committedOf(client, n.dlqGroupId(group), n.dlq(group)) : undefined
        objects.push(await topic(n.dlq(group), "dead-letters", "records since the last purge, replay tombstones included (omnibus dlq list counts dead letters)", purgedTo))
      }
      groups.push({ group, objects })
    }
    const foundMethods = [
      ...rpcServerGroups.map((p) => p[1]!),
      ...[...topics].flatMap((t) => {
        const m = new RegExp(`^${prefix}\\.rpc\\.(.+)$`).exec(t)
        const method = m ? fromTopicWord(m[1]!) : undefined
        return method === undefined ? [] : [method]
      }),
    ]
    const methods = []
    for (const method of reportedNames(foundMethods, query.methods)) {
      const objects: Array<BrokerObject> = []
      if (topics.has(n.rpc(method))) objects.push(await topic(n.rpc(method), "requests"))
      for (const p of rpcServerGroups.filter((p) => p[1] === method)) objects.push(await consumerGroup(n.rpcGroupId(method, p[2]!), [n.rpc(method)], "servers"))
      methods.push({ method, objects })
    }
    const shared: Array<BrokerObject> = []
    for (const t of eventTopicNames) shared.push(await topic(t, "events"))
    const replies = [...topics].filter((t) => t.startsWith(`${prefix}.reply.`))
    if (replies.length > 0) shared.push({ kind: "topic", name: `${prefix}.reply.*`, role: "replies", detail: `${replies.length} reply topic${replies.length === 1 ? "" : "s"}, one per requesting client` })
    const notes = ["Kafka does not tell delivered but unacknowledged records: they count in the lag until committed"]
    if (!topics.has(n.events)) notes.push(`topic ${n.events} does not exist (created by the first publish or subscription)`)
    return { transport: "kafka", namespace: `topic prefix "${prefix}"`, shared, groups, methods, notes }
  } finally {
    await client.disconnect()
  }
}
