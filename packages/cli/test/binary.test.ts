/**
 * The built binary (dist/main.js, as users install it) as a child process on
 * the real brokers: publish → tail (JSON and protobuf), SIGINT leaving nothing
 * behind, request ↔ serve, tail --group on a backlog, the topology report, the
 * dead-letter flow, refused credentials.
 */
import { randomUUID } from "node:crypto"
import { connect, PermanentError } from "@omnibus/core"
import type { TopologyReport } from "@omnibus/core/adapter"
import { deleteGroups as deleteKafkaGroups, kafkaResidue } from "@omnibus/kafka"
import { deleteGroups as deleteNatsGroups, groupResidue } from "@omnibus/nats"
import { deleteGroups as deleteRabbitGroups, residue as rabbitResidue } from "@omnibus/rabbitmq"
import "@omnibus/redis"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kafkaUrl } from "../../../adapters/kafka/test/broker.ts"
import { assertBuilt, eventually, jsonLines, omnibus, PING_PROTO, start } from "./harness.ts"

const RABBITMQ_URL = process.env.OMNIBUS_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const NATS_URL = process.env.OMNIBUS_NATS_URL ?? "nats://127.0.0.1:4222"
const REDIS_URL = process.env.OMNIBUS_REDIS_URL ?? "redis://127.0.0.1:6379"

/** The keys a Redis group owns in the CLI's (default) namespace, as adapters/redis/src/keys.ts lays them out. */
const redisGroupKeys = (group: string) => ["g", "w", "d", "dlq"].map((kind) => `omnibus:{default}:${kind}:${group}`)
const REDIS_BINDINGS = "omnibus:{default}:bindings"

const withRedis = async <A>(use: (r: Redis) => Promise<A>): Promise<A> => {
  const r = new Redis(REDIS_URL)
  try {
    return await use(r)
  } finally {
    r.disconnect()
  }
}

interface Broker {
  readonly name: string
  readonly url: () => string
  /** Broker objects a group still has (0 after an ephemeral subscription closed). */
  readonly residue: (url: string, group: string) => Promise<number>
  /** Deletes durable groups a test made. */
  readonly deleteGroups: (url: string, groups: ReadonlyArray<string>) => Promise<void>
  /** How long a subscription may take to start. */
  readonly joinMs: number
  /** What its topology report tells besides ready (Kafka: lag) messages and dead letters. */
  readonly tells: { readonly unacked: boolean; readonly consumers: boolean; readonly patterns: boolean }
}

const BROKERS: ReadonlyArray<Broker> = [
  {
    name: "rabbitmq",
    url: () => RABBITMQ_URL,
    residue: rabbitResidue,
    deleteGroups: deleteRabbitGroups,
    joinMs: 10_000,
    tells: { unacked: false, consumers: true, patterns: false },
  },
  { name: "nats", url: () => NATS_URL, residue: groupResidue, deleteGroups: deleteNatsGroups, joinMs: 10_000, tells: { unacked: true, consumers: false, patterns: true } },
  {
    name: "redis",
    url: () => REDIS_URL,
    residue: (_url, group) => withRedis(async (r) => (await r.exists(...redisGroupKeys(group))) + (await r.hexists(REDIS_BINDINGS, group))),
    deleteGroups: (_url, groups) =>
      withRedis(async (r) => {
        for (const g of groups) {
          await r.del(...redisGroupKeys(g))
          await r.hdel(REDIS_BINDINGS, g)
        }
      }),
    joinMs: 10_000,
    tells: { unacked: true, consumers: true, patterns: true },
  },
  { name: "kafka", url: kafkaUrl, residue: kafkaResidue, deleteGroups: deleteKafkaGroups, joinMs: 60_000, tells: { unacked: false, consumers: true, patterns: false } },
]

const uid = () => randomUUID().slice(0, 8)

beforeAll(assertBuilt)

it("omnibus --help runs from the built binary", async () => {
  const r = await omnibus(["--help"])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^omnibus: publish, tail/)
})

it("refused credentials: one line, exit code 2, no stack, no password", async () => {
  const r = await omnibus(["health", "--url", "amqp://guest:wrong-secret@127.0.0.1:5672"])
  expect(r.code).toBe(2)
  expect(r.stdout).toBe("")
  expect(r.stderr).toMatch(/^omnibus: AuthenticationFailed: authentication to amqp:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:5672\/? failed: .*\n$/)
  expect(r.stderr.split("\n")).toHaveLength(2)
  expect(r.stderr).not.toContain("wrong-secret")
})

describe.each(BROKERS)("omnibus on $name", (broker) => {
  let url = ""
  beforeAll(() => {
    url = broker.url()
  })

  it("publish → tail --json (JSON and protobuf); SIGINT exits 0 and leaves nothing on the broker", async () => {
    const prefix = `cli.${uid()}`
    const tail = start(["tail", `${prefix}.*`, "--json", "--proto", PING_PROTO, "--type", "clitest.Ping"], url)
    const group = (await tail.line("stderr", /ephemeral group (\S+)\)/, broker.joinMs))[1]!
    const json = await omnibus(["publish", `${prefix}.json`, '{"orderId":42}', "--key", "c-7", "--header", "source=ops"], url)
    expect(json.code, json.stderr).toBe(0)
    const proto = await omnibus(["publish", `${prefix}.proto`, '{"name":"ada","seq":7}', "--proto", PING_PROTO, "--type", "clitest.Ping"], url)
    expect(proto.code, proto.stderr).toBe(0)
    const [jsonId, protoId] = [json.stdout.trim(), proto.stdout.trim()]
    await tail.line("stdout", new RegExp(protoId), broker.joinMs)
    await tail.line("stdout", new RegExp(jsonId), broker.joinMs)
    tail.signal("SIGINT")
    expect(await tail.exited).toBe(0)
    const byId = new Map(jsonLines(tail.stdout()).map((m) => [m.id, m]))
    expect(byId.get(jsonId)).toMatchObject({ routingKey: `${prefix}.json`, key: "c-7", attempt: 1, headers: { source: "ops" }, payload: { orderId: 42 } })
    expect(byId.get(protoId)).toMatchObject({ routingKey: `${prefix}.proto`, payload: { name: "ada", seq: "7" } })
    expect(String(byId.get(protoId)?.contentType)).toMatch(/^application\/protobuf; messageType=clitest\.Ping/)
    await eventually(async () => ((await broker.residue(url, group)) === 0 ? true : undefined), 10_000, `no residue of ${group}`)
  })

  it("request ↔ serve", async () => {
    const method = `cli.rpc.${uid()}`
    const server = start(["serve", method, "--reply", '{"name":"Ada"}', "--count", "1", "--json"], url)
    await server.line("stderr", /serving/, broker.joinMs)
    const reply = await omnibus(["request", method, '{"id":7}', "--timeout", "20s"], url)
    expect(reply.code, reply.stderr).toBe(0)
    expect(JSON.parse(reply.stdout)).toEqual({ name: "Ada" })
    expect(await server.exited).toBe(0)
    expect(jsonLines(server.stdout())[0]).toMatchObject({ method, payload: { id: 7 } })
  })

})

describe.each(BROKERS)("omnibus with groups on $name", (broker) => {
  let url = ""
  const groups: string[] = []
  beforeAll(() => {
    url = broker.url()
  })
  afterAll(async () => {
    await broker.deleteGroups(url, groups)
  })

  it("topology --json: a backlog, a held message, a dead letter and consumers, as the broker tells them", async () => {
    const [busy, idle] = [`cli-topo-${uid()}`, `cli-topo-${uid()}`]
    groups.push(busy, idle)
    const prefix = `cli.${uid()}`
    const bus = await connect(url)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let holding = false
    try {
      // busy: one consumer, which dead-letters *.fail and holds *.hold unacknowledged; idle: no consumer, a backlog.
      await bus.subscribe(`${prefix}.*`, async (m) => {
        if (m.routingKey.endsWith(".fail")) throw new PermanentError("card declined")
        holding = true
        await held
      }, { group: busy })
      await (await bus.subscribe(`${prefix}.*`, () => {}, { group: idle })).close()
      await bus.publish(`${prefix}.fail`, { n: 1 })
      await eventually(async () => ((await bus.deadLetters.list(busy)).length === 1 ? true : undefined), broker.joinMs, "the dead letter")
      await bus.publish(`${prefix}.hold`, { n: 2 })
      await eventually(async () => (holding ? true : undefined), broker.joinMs, "the held message")

      const r = await omnibus(["topology", "--json", "--group", busy, "--group", idle], url)
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(r.stdout) as TopologyReport
      expect(report.transport).toBe(broker.name)
      expect(report.groups.map((g) => g.group)).toEqual([busy, idle].sort())
      const field = (group: string, role: string, name: "messages" | "ready" | "unacked" | "lag" | "consumers") =>
        report.groups.find((g) => g.group === group)!.objects.filter((o) => o.role === role).reduce<number | undefined>((n, o) => (o[name] === undefined ? n : (n ?? 0) + o[name]), undefined)
      // Both messages wait for idle: ready where the broker counts deliveries, lag on Kafka.
      expect(field(idle, "group", broker.name === "kafka" ? "lag" : "ready")).toBe(2)
      expect(field(busy, "dead-letters", "messages")).toBe(1)
      if (broker.tells.unacked) expect(field(busy, "group", "unacked")).toBe(1)
      if (broker.tells.consumers) {
        expect(field(busy, "group", "consumers")).toBeGreaterThanOrEqual(1)
        expect(field(idle, "group", "consumers")).toBe(0)
      }
      if (broker.tells.patterns) expect(report.groups.find((g) => g.group === busy)!.patterns).toEqual([`${prefix}.*`])
    } finally {
      release()
      await bus.close()
    }
  })

  it("topology --namespace reports that namespace only (and creates nothing in it)", async () => {
    const ns = `clins-${uid()}`
    const group = `cli-ns-${uid()}`
    // A group in the namespace, where the adapter's one naming option can be set without new streams or exchanges.
    const options = broker.name === "redis" ? { namespace: ns } : undefined
    const bus = options !== undefined ? await connect(url, options) : undefined
    try {
      await (await bus?.subscribe("ns.*", () => {}, { group }))?.close()
      const inside = await omnibus(["topology", "--json", "--namespace", ns], url)
      expect(inside.code, inside.stderr).toBe(0)
      const report = JSON.parse(inside.stdout) as TopologyReport
      expect(report.namespace).toContain(ns)
      expect(report.groups.map((g) => g.group)).toEqual(bus !== undefined ? [group] : [])
      if (bus !== undefined) {
        const outside = JSON.parse((await omnibus(["topology", "--json"], url)).stdout) as TopologyReport
        expect(outside.groups.map((g) => g.group)).not.toContain(group)
      }
    } finally {
      if (bus !== undefined) await withRedis(async (r) => void (await r.del(...(await r.keys(`omnibus:{${ns}}:*`)))))
      await bus?.close()
    }
  })

  it("--count takes only its count from a backlog: the rest stay with the group, no attempt spent", async () => {
    const group = `cli-tail-${uid()}`
    groups.push(group)
    const prefix = `cli.${uid()}`
    const first = start(["tail", `${prefix}.*`, "--group", group, "--count", "1", "--json"], url)
    await first.line("stderr", /tailing/, broker.joinMs)
    const ids: string[] = []
    for (const n of [1, 2, 3, 4]) {
      const r = await omnibus(["publish", `${prefix}.m${n}`, `{"n":${n}}`], url)
      expect(r.code, r.stderr).toBe(0)
      ids.push(r.stdout.trim())
    }
    expect(await first.exited).toBe(0)
    const [taken] = jsonLines(first.stdout())
    expect(taken).toMatchObject({ attempt: 1 })
    const rest = await omnibus(["tail", `${prefix}.*`, "--group", group, "--count", "3", "--json", "--timeout", "30s"], url, { timeoutMs: 60_000 })
    expect(rest.code, rest.stderr).toBe(0)
    const lines = jsonLines(rest.stdout)
    expect(new Set([taken!.id, ...lines.map((m) => m.id)])).toEqual(new Set(ids))
    expect(lines.map((m) => m.attempt)).toEqual([1, 1, 1])
  })

  it("dlq list, show, replay by id, purge --yes", async () => {
    const group = `cli-dlq-${uid()}`
    groups.push(group)
    const prefix = `cli.${uid()}`
    // A group whose handler rejects each message permanently the first time, and handles it when it comes back.
    const bus = await connect(url)
    const failedOnce = new Set<string>()
    const handled: string[] = []
    await bus.subscribe(`${prefix}.*`, (m) => {
      if (!failedOnce.has(m.id)) {
        failedOnce.add(m.id)
        throw new PermanentError("card declined")
      }
      handled.push(m.id)
    }, { group })
    try {
      const ids: string[] = []
      for (const n of [1, 2]) {
        const r = await omnibus(["publish", `${prefix}.invoice`, `{"n":${n}}`], url)
        expect(r.code, r.stderr).toBe(0)
        ids.push(r.stdout.trim())
      }
      const listed = await eventually(async () => {
        const rows = jsonLines((await omnibus(["dlq", "list", group, "--json"], url)).stdout)
        return rows.length === 2 ? rows : undefined
      }, 15_000, "two dead letters")
      expect(listed.map((r) => r.id)).toEqual(ids)
      expect(listed[0]).toMatchObject({ routingKey: `${prefix}.invoice`, errorName: "PermanentError", error: "card declined", attempts: 1, group })

      const show = await omnibus(["dlq", "show", group, ids[1]!, "--json"], url)
      expect(show.code, show.stderr).toBe(0)
      expect(JSON.parse(show.stdout)).toMatchObject({ id: ids[1], payload: { n: 2 } })

      const refused = await omnibus(["dlq", "purge", group], url)
      expect(refused.code).toBe(2)

      const replay = await omnibus(["dlq", "replay", group, "--id", ids[0]!, "--yes"], url)
      expect(replay.stdout).toBe(`replayed 1 dead letter to group ${group}\n`)
      await eventually(async () => (handled.includes(ids[0]!) ? true : undefined), 15_000, "the replayed message handled")

      const purge = await omnibus(["dlq", "purge", group, "--yes"], url)
      expect(purge.stdout).toBe(`purged 1 dead letter of group ${group}\n`)
      expect((await omnibus(["dlq", "list", group, "--json"], url)).stdout).toBe("")
    } finally {
      await bus.close()
    }
  })
})
