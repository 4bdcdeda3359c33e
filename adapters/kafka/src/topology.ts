/**
 * Broker objects: topics (created explicitly, with a message size fit for
 * 8 MiB payloads whatever the broker default), a group's starting offsets,
 * and cleanup of ephemeral groups.
 */
import { BrokerError } from "@omnibus/core"
import type { KafkaClient } from "./client.ts"

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export class Topology {
  private readonly client: KafkaClient
  private readonly partitions: number
  private readonly maxMessageBytes: number
  private readonly topics = new Map<string, Promise<void>>()
  private readonly starts = new Map<string, Promise<void>>()
  /** Partitions of a mapped event topic (event-topics.ts), where the mapping gives them. */
  private readonly partitionsOf: (topic: string) => number | undefined

  constructor(client: KafkaClient, partitions: number, maxPayloadBytes: number, partitionsOf: (topic: string) => number | undefined = () => undefined) {
    this.client = client
    this.partitions = partitions
    this.partitionsOf = partitionsOf
    // room for headers and batch overhead on top of the payload
    this.maxMessageBytes = maxPayloadBytes + 1024 * 1024
  }

  /** Creates the topics that do not exist yet, with `partitions` (default: the mapping's for the topic, else the `partitions` option). */
  ensureTopics(topics: ReadonlyArray<string>, partitions?: number): Promise<void> {
    return Promise.all(
      topics.map((topic) => {
        let p = this.topics.get(topic)
        if (!p) {
          p = this.client.createTopics([{ topic, partitions: partitions ?? this.partitionsOf(topic) ?? this.partitions }], this.maxMessageBytes).catch((e: unknown) => {
            this.topics.delete(topic)
            throw new BrokerError({ operation: `create topic ${topic}`, reason: describe(e), cause: e })
          })
          this.topics.set(topic, p)
        }
        return p
      }),
    ).then(() => undefined)
  }

  forget(topics: ReadonlyArray<string>): void {
    for (const t of topics) this.topics.delete(t)
  }

  /**
   * A new group starts at the topic's current end, committed before the
   * first consumer joins: messages published once consume()/declareGroup()
   * resolved wait for the group, and older history is not replayed.
   */
  startAtEnd(groupId: string, topic: string): Promise<void> {
    const key = `${groupId}\u0000${topic}`
    let p = this.starts.get(key)
    if (!p) {
      p = this.doStartAtEnd(groupId, topic).finally(() => this.starts.delete(key))
      this.starts.set(key, p)
    }
    return p
  }

  private async doStartAtEnd(groupId: string, topic: string): Promise<void> {
    const committed = await this.client.committed(groupId, topic)
    const missing = new Set(committed.filter((c) => c.offset < 0n).map((c) => c.partition))
    if (committed.length > 0 && missing.size === 0) return
    const ends = await this.client.endOffsets(topic)
    const todo = ends.filter((e) => committed.length === 0 || missing.has(e.partition)).map((e) => ({ partition: e.partition, offset: e.high }))
    if (todo.length === 0) return
    try {
      await this.client.setOffsets(groupId, topic, todo)
    } catch (e) {
      // A member already runs (it set the start itself) — nothing to do.
      const members = await this.client.groupMembers([groupId]).catch(() => new Map<string, number>())
      if ((members.get(groupId) ?? 0) > 0) return
      throw new BrokerError({ operation: `initialise offsets of ${groupId}`, reason: describe(e), cause: e })
    }
  }

  /** Deletes groups once their members left (the coordinator needs a moment after LeaveGroup). */
  async deleteGroups(groupIds: ReadonlyArray<string>, deadlineMs = 15_000): Promise<void> {
    const deadline = Date.now() + deadlineMs
    let left = [...groupIds]
    while (left.length > 0) {
      const existing = new Set(await this.client.listGroups())
      left = left.filter((g) => existing.has(g))
      if (left.length === 0) return
      try {
        await this.client.deleteGroups(left)
      } catch {
        // NON_EMPTY_GROUP while the leave propagates: retry below
      }
      if (Date.now() > deadline) return
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  async deleteTopics(topics: ReadonlyArray<string>): Promise<void> {
    this.forget(topics)
    const existing = new Set(await this.client.listTopics())
    const present = topics.filter((t) => existing.has(t))
    if (present.length > 0) await this.client.deleteTopics(present)
  }
}
