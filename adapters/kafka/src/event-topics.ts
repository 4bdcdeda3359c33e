/**
 * Which topic an event is written to and which topics a group reads. By
 * default every event is in `<prefix>.events` and a group filters in the
 * client. The `eventTopics` option maps routing-key patterns to topics of their
 * own, or to existing topics other producers write: a group then reads only
 * the topics its patterns can reach, and pays nothing for the others' traffic.
 *
 * The topic set of a group is fixed by its patterns and the mapping, so keys
 * first published after a group subscribed are read like any other (what a
 * RegExp subscription on topic names would miss). Mapped patterns must be
 * disjoint, so a key has exactly one topic whatever the order of the mapping.
 */
import { InvalidOptions, matches, overlapWitness, patternCovers, patternsOverlap, validatePattern, validateRoutingKey } from "@omnibus/core/adapter"
import type { Names } from "./config.ts"

/** A mapping's value: the topic's name, or its name and the partitions the adapter creates it with when it is missing (default: the `partitions` option). */
export type EventTopicTarget = string | { readonly topic: string; readonly partitions?: number }

export interface EventTopics {
  /** The topic a routing key is published to. */
  topicOf(routingKey: string): string
  /** Every topic a key matching one of the patterns can be in: mapped topics whose pattern overlaps, and the default topic unless a mapped pattern covers the pattern. */
  topicsFor(patterns: ReadonlyArray<string>): ReadonlyArray<string>
  /** The routing key of a record that carries none (a plain producer's): the mapping's key where the topic's pattern is one key, else the topic's name. */
  fallbackKey(topic: string): string
  /** The mapped topics, without the default one. */
  readonly mapped: ReadonlyArray<string>
  /** Partitions of a topic the adapter creates: the mapping's, or undefined (the `partitions` option). */
  partitionsOf(topic: string): number | undefined
}

interface Route {
  readonly pattern: string
  readonly topic: string
  readonly partitions: number | undefined
}

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/
const CACHE_LIMIT = 10_000

const invalid = (reason: string) => new InvalidOptions({ option: "eventTopics", reason })

const parseRoutes = (value: unknown, names: Names): ReadonlyArray<Route> => {
  if (value === undefined || value === null) return []
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(`must be an object of routing-key pattern → topic name (or { topic, partitions }), got ${Array.isArray(value) ? "an array" : typeof value}`)
  const routes: Array<Route> = []
  for (const [pattern, target] of Object.entries(value)) {
    const problem = validatePattern(pattern)
    if (problem !== undefined) throw invalid(`pattern ${JSON.stringify(pattern)} ${problem.reason}`)
    const { topic, partitions } = typeof target === "object" && target !== null ? (target as { topic?: unknown; partitions?: unknown }) : { topic: target, partitions: undefined }
    if (typeof topic !== "string" || !TOPIC.test(topic) || topic === "." || topic === "..") {
      throw invalid(`topic of ${JSON.stringify(pattern)} must be a Kafka topic name (1–249 of A-Z a-z 0-9 . _ -), got ${JSON.stringify(topic)}`)
    }
    if (partitions !== undefined && (typeof partitions !== "number" || !Number.isInteger(partitions) || partitions < 1)) {
      throw invalid(`partitions of ${JSON.stringify(pattern)} must be a positive integer, got ${JSON.stringify(partitions)}`)
    }
    if (names.owns(topic)) throw invalid(`topic ${JSON.stringify(topic)} of ${JSON.stringify(pattern)} is one of the adapter's own topics`)
    const same = routes.find((r) => r.topic === topic && r.partitions !== partitions)
    if (same !== undefined) throw invalid(`topic ${JSON.stringify(topic)} is given ${same.partitions ?? "default"} and ${partitions ?? "default"} partitions`)
    for (const other of routes) {
      const both = overlapWitness(other.pattern, pattern)
      if (both !== undefined) throw invalid(`patterns ${JSON.stringify(other.pattern)} and ${JSON.stringify(pattern)} both match ${JSON.stringify(both)}: a routing key must map to one topic`)
    }
    routes.push({ pattern, topic, partitions })
  }
  return routes
}

export const eventTopics = (value: unknown, names: Names): EventTopics => {
  const events = names.events
  const routes = parseRoutes(value, names)
  const mapped = [...new Set(routes.map((r) => r.topic))]
  if (routes.length === 0) return { topicOf: () => events, topicsFor: () => [events], fallbackKey: (topic) => topic, mapped, partitionsOf: () => undefined }

  const cache = new Map<string, string>()
  const keyOf = new Map<string, string>()
  for (const topic of mapped) {
    const onTopic = routes.filter((r) => r.topic === topic)
    if (onTopic.length === 1 && validateRoutingKey(onTopic[0]!.pattern) === undefined) keyOf.set(topic, onTopic[0]!.pattern)
  }
  return {
    topicOf(routingKey) {
      let topic = cache.get(routingKey)
      if (topic === undefined) {
        topic = routes.find((r) => matches(r.pattern, routingKey))?.topic ?? events
        if (cache.size >= CACHE_LIMIT) cache.clear()
        cache.set(routingKey, topic)
      }
      return topic
    },
    topicsFor(patterns) {
      const topics = new Set<string>()
      for (const p of patterns) {
        for (const r of routes) if (patternsOverlap(r.pattern, p)) topics.add(r.topic)
        if (!routes.some((r) => patternCovers(r.pattern, p))) topics.add(events)
      }
      return [...topics]
    },
    fallbackKey: (topic) => keyOf.get(topic) ?? topic,
    mapped,
    partitionsOf: (topic) => routes.find((r) => r.topic === topic)?.partitions,
  }
}
