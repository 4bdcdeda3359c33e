/**
 * The topology report on Redis (core's TopologyReport): the keys of one
 * namespace (layout in keys.ts), found with SCAN. Per group: its stream with
 * XLEN and the consumer group's XINFO GROUPS entry (lag = ready, pending =
 * unacked, consumers), its delayed-retry stream and its dead-letter stream;
 * per RPC method: the requests waiting and the live servers. Read only.
 */
import { BrokerError, reportedNames, type BrokerObject, type TopologyReporter } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import { describe, openClient, parseRedisUrl } from "./connection.ts"
import { keysFor, type RedisTransportOptions } from "./transport.ts"

/** SCAN MATCH treats * ? [ ] \ as glob syntax: a namespace holding them must not widen the match. */
const globLiteral = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

const scanAll = async (client: Redis, pattern: string): Promise<ReadonlyArray<string>> => {
  const found: Array<string> = []
  let cursor = "0"
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000)
    found.push(...keys)
    cursor = next
  } while (cursor !== "0")
  return found
}

/** One XINFO GROUPS entry (alternating names and values) as a record. */
const fields = (entry: unknown): Readonly<Record<string, unknown>> => {
  const out: Record<string, unknown> = {}
  if (Array.isArray(entry)) for (let i = 0; i + 1 < entry.length; i += 2) out[String(entry[i])] = entry[i + 1]
  return out
}

const count = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined)

/** Each key below the namespace's base under a kind: "g:" → group names, "rpc:q:" → methods... */
const suffixes = (keys: ReadonlyArray<string>, base: string, kind: string): ReadonlyArray<string> =>
  keys.filter((k) => k.startsWith(`${base}${kind}`)).map((k) => k.slice(base.length + kind.length))

export const topologyReport: TopologyReporter = async (url, query = {}, options: RedisTransportOptions = {}) => {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  const keys = keysFor(query.namespace === undefined ? options : { ...options, namespace: query.namespace })
  const client = await openClient(parseRedisUrl(url, connectTimeoutMs, options.tls), connectTimeoutMs, "omnibus-topology")
  try {
    const base = keys.base
    const all = await scanAll(client, `${globLiteral(base)}*`)
    const bindings = await client.hgetall(keys.bindings)
    // one hash of publish dedup markers per window (scripts.ts ROUTE)
    const dedupHashes = suffixes(all, base, "ids:")
    let dedupMarkers = 0
    for (const bucket of dedupHashes) dedupMarkers += await client.hlen(`${base}ids:${bucket}`)
    const shared: Array<BrokerObject> = [
      { kind: "key", name: keys.bindings, role: "bookkeeping", detail: `hash: group → patterns, ${Object.keys(bindings).length} groups` },
      ...(dedupMarkers > 0 ? [{ kind: "key" as const, name: `${base}ids:*`, role: "bookkeeping" as const, detail: `${dedupMarkers} publish dedup markers` }] : []),
    ]
    const found = [...Object.keys(bindings), ...["g:", "w:", "dlq:"].flatMap((kind) => suffixes(all, base, kind))]
    const groups = []
    for (const group of reportedNames(found, query.groups)) {
      const stream = keys.group(group)
      const [length, info, waiting, dead] = await Promise.all([
        client.xlen(stream),
        client.xinfo("GROUPS", stream).catch(() => []),
        client.xlen(keys.waiting(group)),
        client.xlen(keys.deadLetters(group)),
      ])
      const mine = (info as ReadonlyArray<unknown>).map(fields).find((f) => f.name === group)
      const objects: Array<BrokerObject> = []
      if (length > 0 || mine !== undefined) {
        objects.push({
          kind: "key",
          name: stream,
          role: "group",
          messages: length,
          ...(count(mine?.lag) !== undefined ? { ready: count(mine?.lag) } : {}),
          ...(count(mine?.pending) !== undefined ? { unacked: count(mine?.pending) } : {}),
          ...(count(mine?.consumers) !== undefined ? { consumers: count(mine?.consumers) } : {}),
          detail: mine === undefined ? "stream without its consumer group" : "stream + consumer group",
        })
      }
      if (waiting > 0) objects.push({ kind: "key", name: keys.waiting(group), role: "retry", messages: waiting, detail: "stream" })
      if (dead > 0) objects.push({ kind: "key", name: keys.deadLetters(group), role: "dead-letters", messages: dead, detail: "stream" })
      const patterns = bindings[group]
      groups.push({ group, ...(patterns !== undefined ? { patterns: patterns.split(" ") } : {}), objects })
    }
    const [seconds, micros] = await client.time()
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
    const methodsFound = [...suffixes(all, base, "rpc:q:"), ...suffixes(all, base, "rpc:s:")]
    const methods = []
    for (const method of reportedNames(methodsFound, query.methods)) {
      const [waiting, live] = await Promise.all([client.llen(keys.rpcQueue(method)), client.zcount(keys.rpcServers(method), now, "+inf")])
      const objects: Array<BrokerObject> = []
      if (live > 0 || waiting > 0) {
        objects.push({ kind: "key", name: keys.rpcQueue(method), role: "requests", ready: waiting, detail: "list" })
        objects.push({ kind: "key", name: keys.rpcServers(method), role: "servers", consumers: live, detail: "sorted set: server → lease" })
      }
      methods.push({ method, objects })
    }
    const replies = suffixes(all, base, "rpc:r:").length
    if (replies > 0) shared.push({ kind: "key", name: `${base}rpc:r:*`, role: "replies", detail: `${replies} reply lists, one per requesting client` })
    return { transport: "redis", namespace: `keys "${base}*"`, shared, groups, methods, notes: [] }
  } catch (e) {
    if (e instanceof BrokerError) throw e
    throw new BrokerError({ operation: "topology report", reason: describe(e), cause: e })
  } finally {
    client.disconnect()
  }
}
