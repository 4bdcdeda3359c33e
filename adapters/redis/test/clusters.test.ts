/**
 * The cluster fault suite (docs/clusters.md) against the Redis Cluster of
 * scripts/clusters/redis.sh (3 primaries with 2 replicas each), started by
 * `npm run test:clusters` (scripts/clusters/test.sh), which sets
 * OMNIBUS_REDIS_CLUSTER_URL and OMNIBUS_REDIS_CLUSTER_NODES.
 *
 * - "redis": the whole suite with `waitReplicas: 1` (a publish is confirmed once a
 *   replica has it), asserting that nothing confirmed is lost.
 * - "redis-nowait": C-leader-kill again without WAIT, the loss measured and
 *   reported, not asserted (asynchronous replication may lose it: docs/clusters.md).
 * - The replication window: the primary dies while its replicas lag behind; what
 *   was confirmed without WAIT is lost, nothing confirmed with WAIT is.
 * - What WAIT costs: publish throughput and latency with and without, same run.
 */
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { connect } from "@omnibus/core"
import type { Bus, TransportOptions } from "@omnibus/core"
import { describeClusterFaults, runScript, scriptNodes } from "@omnibus/conformance/clusters"
import type { ClusterHarness, ClusterNode, Leader } from "@omnibus/conformance/clusters"
import { Cluster, Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { deleteGroups } from "../src/index.ts"
import { keysFor } from "../src/transport.ts"
import { eventually } from "./helpers.ts"

const env = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the cluster tests with npm run test:clusters (scripts/clusters/test.sh)`)
  return v
}
const url = env("OMNIBUS_REDIS_CLUSTER_URL")
const hosts = env("OMNIBUS_REDIS_CLUSTER_NODES").split(",")
const script = fileURLToPath(new URL("../../../scripts/clusters/redis.sh", import.meta.url))
const nodes = scriptNodes(script, hosts, { partitions: true })
const keys = keysFor({})
const WAIT_REPLICAS = 1

const hostOf = (n: ClusterNode): string => hosts[nodes.indexOf(n)]!
/** The launcher's number of a node (1 = the first host). */
const numberOf = (host: string): string => String(hosts.indexOf(host) + 1)

/** A cluster client of the test's own, for the lookups (which primary serves a slot, what a group holds). */
let admin: Cluster | undefined
const adminClient = (): Cluster => {
  if (admin === undefined) {
    admin = new Cluster(hosts.map((h) => ({ host: h.split(":")[0]!, port: Number(h.split(":")[1]) })), { redisOptions: { connectionName: "omnibus-test-admin" } })
    admin.on("error", () => {})
  }
  return admin
}
afterAll(() => { admin?.disconnect() })

interface NodeLine {
  readonly id: string
  readonly host: string
  readonly primary: boolean
  readonly failed: boolean
  /** The id of its primary (replicas). */
  readonly of: string
  readonly ranges: ReadonlyArray<readonly [number, number]>
}

/** CLUSTER NODES of any node, parsed. */
const clusterNodes = async (): Promise<Array<NodeLine>> =>
  String(await adminClient().call("CLUSTER", "NODES")).trim().split("\n").map((l) => {
    const f = l.split(" ")
    return {
      id: f[0]!,
      host: f[1]!.split("@")[0]!,
      primary: /\bmaster\b/.test(f[2]!),
      failed: /\bfail\b/.test(f[2]!),
      of: f[3]!,
      ranges: f.slice(8).filter((r) => /^\d/.test(r)).map((r) => {
        const [a, b] = r.split("-").map(Number)
        return [a!, b ?? a!] as const
      }),
    }
  })

/**
 * Every node up and in its place: none failed, no primary without slots (a primary killed by an earlier
 * case comes back as such and turns replica only after a while; until then no shard lists it), every
 * shard with its full share of replicas.
 */
const whole = async (): Promise<boolean> => {
  const all = await clusterNodes()
  const primaries = all.filter((n) => n.primary && n.ranges.length > 0)
  return all.length === hosts.length && all.every((n) => !n.failed && (!n.primary || n.ranges.length > 0)) &&
    primaries.every((p) => all.filter((n) => n.of === p.id).length === hosts.length / primaries.length - 1)
}

/** The primary serving `key`'s slot and its replicas. */
const shardOf = async (key: string): Promise<{ readonly slot: number; readonly primary: NodeLine; readonly replicas: ReadonlyArray<NodeLine> }> => {
  const slot = Number(await adminClient().call("CLUSTER", "KEYSLOT", key))
  const all = await clusterNodes()
  const primary = all.find((n) => n.primary && !n.failed && n.ranges.some(([a, b]) => slot >= a && slot <= b))
  if (!primary) throw new Error(`no primary serves slot ${slot} of ${key}`)
  return { slot, primary, replicas: all.filter((n) => n.of === primary.id) }
}

const primaryOf = async (key: string): Promise<Leader> => {
  const { slot, primary, replicas } = await shardOf(key)
  const node = nodes.find((n) => n.name === primary.host)
  if (!node) throw new Error(`slot ${slot}: primary ${primary.host} is not one of the nodes`)
  return { node, detail: `primary of slot ${slot} (every key of the namespace), replicas ${replicas.map((r) => `${r.host}${r.failed ? " (failed)" : ""}`).join(", ") || "none"}` }
}

/** What a group still holds on the cluster: entries undelivered, unacked or waiting for a retry. */
const backlog = async (group: string): Promise<number> => {
  const c = adminClient()
  const [stream, waiting] = await Promise.all([c.xlen(keys.group(group)), c.xlen(keys.waiting(group))])
  return stream + waiting
}

const harness = (waitReplicas: number): ClusterHarness => ({
  nodes,
  url: (order) => `redis://${order.map(hostOf).join(",")}?cluster=true`,
  connect: (u, options) => connect(u, { waitReplicas, ...options }),
  groupLeader: (group) => primaryOf(keys.group(group)),
  rpcLeader: (method) => primaryOf(keys.rpcQueue(method)),
  deleteGroups: (groups) => deleteGroups(url, groups),
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 5_000,
  // C-partition: the cluster client sees the slots move to the promoted replica and follows them
  movesToMajority: true,
  replication: `Redis Cluster, ${nodes.length / 3 - 1} replicas per primary, AOF appendfsync always; ` +
    (waitReplicas > 0 ? `publishes confirmed after WAIT ${waitReplicas} (waitReplicas: ${waitReplicas})` : "publishes confirmed by the primary alone (no WAIT)"),
})

describeClusterFaults("redis", harness(WAIT_REPLICAS))

describeClusterFaults("redis-nowait", { ...harness(0), measuredLoss: { backlog } }, ["C-leader-kill"])

describe("clusters: redis replication window", () => {
  it("the primary dies while its replicas lag: confirmed without WAIT is lost, with WAIT nothing confirmed is", { timeout: 120_000 }, async () => {
    const group = `clwin${randomUUID().slice(0, 8)}`
    const options: TransportOptions = { connectTimeoutMs: 30_000, leaseMs: 5_000 }
    const plain = await connect(url, options)
    const waiting = await connect(url, { ...options, waitReplicas: WAIT_REPLICAS })
    const consumer = await connect(url, options)
    await eventually(whole, 60_000, "every node back in the cluster, as a primary with slots or a replica")
    const { primary } = await shardOf(keys.group(group))
    // Every node that serves no slots is frozen, not only those the shard lists: after the earlier cases'
    // failovers one node's view of the shard can miss a replica still rejoining, and one left running
    // acknowledged WAIT and took over with the data (seen in fresh-clone runs).
    const replicas = (await clusterNodes()).filter((n) => !(n.primary && n.ranges.length > 0))
    const frozen: Array<string> = []
    let killed = false
    const N = 100
    try {
      await plain.declareGroup(`${group}.#`, { group })
      // Replicas (every slotless node) stalled and cut off: the primary keeps answering, nothing it writes reaches a replica.
      // (SIGSTOP alone is not enough: the kernel would still buffer what the primary sends them.)
      for (const r of replicas) {
        await runScript(script, "freeze", numberOf(r.host))
        frozen.push(r.host)
      }
      const p = new Redis({ host: primary.host.split(":")[0], port: Number(primary.host.split(":")[1]), lazyConnect: true })
      p.on("error", () => {})
      await p.connect()
      await p.call("CLIENT", "KILL", "TYPE", "replica")
      p.disconnect()
      const unconfirmedIds = Array.from({ length: N }, () => randomUUID())
      const waitedIds = Array.from({ length: N }, () => randomUUID())
      await Promise.all(unconfirmedIds.map((id, i) => plain.publish(`${group}.plain.${i % 4}`, { i }, { id })))
      let confirmedWithWait = 0
      const waitedDone = Promise.allSettled(waitedIds.map(async (id, i) => {
        await waiting.publish(`${group}.wait.${i % 4}`, { i }, { id })
        confirmedWithWait++
      }))
      // every waited publish reached the primary (its dedup marker is there), none is confirmed
      await eventually(async () => (await remembered(adminClient(), waitedIds)) === N, 10_000, "the waited publishes written on the primary")
      const confirmedBeforeKill = confirmedWithWait
      await runScript(script, "kill", numberOf(primary.host))
      killed = true
      for (const r of frozen.splice(0)) await runScript(script, "thaw", numberOf(r))
      // read only from the replica that took over (a consumer on the old primary would have handled its messages)
      await eventually(async () => (await shardOf(keys.group(group)).catch(() => undefined))?.primary.host !== primary.host, 30_000, "a replica to take over")
      const handled = new Set<string>()
      await consumer.subscribe(`${group}.#`, (m) => { handled.add(m.id) }, { group, concurrency: 16 })
      const outcomes = await waitedDone
      const failedWithWait = outcomes.filter((o) => o.status === "rejected").length
      const firstFailure = outcomes.find((o) => o.status === "rejected")
      if (firstFailure) console.log(`first failure with WAIT: ${String((firstFailure as PromiseRejectedResult).reason)}`)
      await eventually(async () => waitedIds.every((id) => handled.has(id)) || (await backlog(group)) === 0, 60_000, "the waited publishes handled or the group drained")
      await eventually(async () => (await backlog(group)) === 0, 30_000, "the group drained")
      const lostWithout = unconfirmedIds.filter((id) => !handled.has(id)).length
      const lostWith = waitedIds.filter((id) => !handled.has(id)).length
      console.log(`[clusters redis replication window] primary ${primary.host} killed while replicas ${replicas.map((r) => r.host).join(", ")} were stalled and cut off: ` +
        `without WAIT ${N} confirmed, ${lostWithout} lost after the failover; with WAIT ${confirmedBeforeKill} confirmed before the kill, ` +
        `${confirmedWithWait} after it (${failedWithWait} failed), ${lostWith} lost`)
      expect(confirmedBeforeKill, "publishes confirmed with WAIT while no replica could acknowledge them").toBe(0)
      expect(failedWithWait, "publishes with WAIT failed (not confirmed within publishTimeoutMs)").toBe(0)
      expect(lostWith, "publishes confirmed with WAIT, lost in the failover").toBe(0)
      // the window is real: what the primary alone confirmed went with it
      expect(lostWithout, "publishes confirmed without WAIT, lost in the failover").toBe(N)
    } finally {
      for (const r of frozen) await runScript(script, "thaw", numberOf(r))
      await Promise.all([plain.close(), waiting.close(), consumer.close()])
      if (killed) await runScript(script, "restart", numberOf(primary.host))
      await deleteGroups(url, [group])
    }
  })
})

const percentile = (sorted: ReadonlyArray<number>, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe("clusters: redis WAIT cost", () => {
  it("publish throughput and latency with and without waitReplicas, same run", { timeout: 120_000 }, async () => {
    const group = `clwait${randomUUID().slice(0, 8)}`
    const options: TransportOptions = { connectTimeoutMs: 30_000 }
    const buses: Record<"without" | "with", Bus> = {
      without: await connect(url, options),
      with: await connect(url, { ...options, waitReplicas: WAIT_REPLICAS }),
    }
    try {
      // a group bound to the keys: each publish writes its stream entry (what is replicated)
      await buses.without.declareGroup(`${group}.#`, { group })
      const N = 5_000
      const WINDOW = 200
      const LATENCY_N = 150
      const ROUNDS = 5
      const rate: Record<string, Array<number>> = { without: [], with: [] }
      const latency: Record<string, Array<number>> = { without: [], with: [] }
      // interleaved rounds, so both see the same machine load
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of ["without", "with"] as const) {
          const bus = buses[mode]
          const started = performance.now()
          let next = 0
          await Promise.all(Array.from({ length: WINDOW }, async () => {
            while (next < N) {
              const i = next++
              await bus.publish(`${group}.t.${i % 8}`, { i })
            }
          }))
          rate[mode]!.push(Math.round(N / ((performance.now() - started) / 1000)))
          for (let i = 0; i < LATENCY_N; i++) {
            const t = performance.now()
            await bus.publish(`${group}.l`, { i })
            latency[mode]!.push(performance.now() - t)
          }
        }
      }
      const line = (mode: "without" | "with"): string => {
        const sorted = [...latency[mode]!].sort((a, b) => a - b)
        return `${mode} WAIT: median ${median(rate[mode]!)} msg/s (rounds ${rate[mode]!.join(", ")}; ${N} messages, ${WINDOW} in flight); ` +
          `one at a time p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms (${sorted.length} publishes)`
      }
      console.log(`[clusters redis WAIT cost] waitReplicas ${WAIT_REPLICAS} on ${nodes.length} nodes: ${line("without")}; ${line("with")}`)
      // what WAIT buys: a confirmed publish is on a replica already (its dedup marker, written in the same script)
      const id = randomUUID()
      await buses.with.publish(`${group}.check`, { check: true }, { id })
      expect(await replicasHolding(id), `replicas holding ${id} as its publish is confirmed`).toBeGreaterThanOrEqual(WAIT_REPLICAS)
    } finally {
      await Promise.all([buses.without.close(), buses.with.close()])
      await deleteGroups(url, [group])
    }
  })
})

/**
 * How many of the ids the routing script remembered in its dedup hashes (keys.ts dedup: one per
 * window of the default 120 s, the current and its neighbours looked up, the test's clock being
 * the server's).
 */
const remembered = async (client: Redis | Cluster, ids: ReadonlyArray<string>, windowMs = 120_000): Promise<number> => {
  const now = Math.floor(Date.now() / windowMs)
  const found = new Set<string>()
  for (const bucket of [now - 1, now, now + 1]) {
    const values = await client.hmget(keys.dedup(bucket), ...ids)
    values.forEach((v, i) => { if (v !== null) found.add(ids[i]!) })
  }
  return found.size
}

/** How many replicas of the namespace's primary hold the dedup marker of `id` (asked of each replica directly, READONLY). */
const replicasHolding = async (id: string): Promise<number> => {
  const { replicas } = await shardOf(keys.bindings)
  let n = 0
  for (const r of replicas.filter((x) => !x.failed)) {
    const client = new Redis({ host: r.host.split(":")[0], port: Number(r.host.split(":")[1]), readOnly: true, lazyConnect: true })
    client.on("error", () => {})
    try {
      await client.connect()
      n += await remembered(client, [id])
    } finally {
      client.disconnect()
    }
  }
  return n
}
