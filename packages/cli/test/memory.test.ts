/**
 * The commands on memory://, in this process (an in-process broker cannot be
 * reached from a child process): output formats, dead-letter flows, prompts
 * and exit codes. test/brokers.test.ts runs the built binary on real brokers.
 */
import { randomUUID } from "node:crypto"
import "@omnibus/memory"
import { residue } from "@omnibus/memory"
import { connect, PermanentError } from "@omnibus/core"
import type { TopologyReport } from "@omnibus/core/adapter"
import { describe, expect, it } from "vitest"
import { eventually, inProcess, jsonLines, PING_PROTO } from "./harness.ts"

const broker = () => `cli-${randomUUID().slice(0, 8)}`

describe("omnibus on memory://", () => {
  it("publish → tail --json shows id, key, headers, attempt and the payload; tail leaves nothing behind", async () => {
    const name = broker()
    const env = { OMNIBUS_URL: `memory://${name}` }
    const tail = inProcess(env)
    const tailing = tail.run(["tail", "orders.#", "--json"])
    const group = await eventually(async () => /ephemeral group (\S+)\)/.exec(tail.stderr())?.[1], 5_000, "tail to subscribe")
    const pub = inProcess(env)
    expect(await pub.run(["publish", "orders.created", '{"orderId":42}', "--key", "c-7", "--header", "source=ops", "--header", "try=1"])).toBe(0)
    const id = pub.stdout().trim()
    expect(pub.stderr()).toMatch(/published 1 message to orders.created on memory:\/\//)
    await eventually(async () => (tail.stdout().includes(id) ? true : undefined), 5_000, "the message in tail")
    tail.stop()
    expect(await tailing).toBe(0)
    const [m] = jsonLines(tail.stdout())
    expect(m).toMatchObject({ routingKey: "orders.created", id, key: "c-7", attempt: 1, headers: { source: "ops", try: "1" }, payload: { orderId: 42 }, contentType: "application/json" })
    expect(residue(name, group)).toBe(0)
  })

  it("text, stdin and protobuf payloads; --count stops tail, --timeout without enough messages is exit 1", async () => {
    const env = { OMNIBUS_URL: `memory://${broker()}` }
    const tail = inProcess(env)
    const tailing = tail.run(["tail", "p.*", "--json", "--count", "3", "--proto", PING_PROTO, "--type", "clitest.Ping"])
    await eventually(async () => (tail.stderr().includes("tailing") ? true : undefined), 5_000, "tail to subscribe")
    expect(await inProcess(env).run(["publish", "p.text", "plain words", "--text"])).toBe(0)
    expect(await inProcess(env, { stdin: '{"from":"stdin"}' }).run(["publish", "p.stdin", "-"])).toBe(0)
    expect(await inProcess(env).run(["publish", "p.proto", '{"name":"ada","seq":7}', "--proto", PING_PROTO, "--type", "clitest.Ping"])).toBe(0)
    expect(await tailing).toBe(0)
    expect(jsonLines(tail.stdout()).map((m) => m.payload)).toEqual(["plain words", { from: "stdin" }, { name: "ada", seq: "7" }])
    expect(await inProcess(env).run(["tail", "none.*", "--count", "1", "--timeout", "200ms"])).toBe(1)
  })

  it("tail --group --count takes only its count from a backlog: the rest stay with the group, attempts unspent", async () => {
    const url = `memory://${broker()}`
    const env = { OMNIBUS_URL: url }
    const group = `g-${randomUUID().slice(0, 6)}`
    const bus = await connect(url)
    try {
      const declare = inProcess(env)
      const declaring = declare.run(["tail", "backlog.*", "--group", group, "--count", "1", "--json"])
      await eventually(async () => (declare.stderr().includes("tailing") ? true : undefined), 5_000, "tail to join the group")
      const ids: string[] = []
      for (const n of [1, 2, 3, 4]) ids.push((await bus.publish(`backlog.m${n}`, { n })).id)
      expect(await declaring).toBe(0)
      expect(jsonLines(declare.stdout()).map((m) => m.id)).toEqual([ids[0]])
      const rest = inProcess(env)
      expect(await rest.run(["tail", "backlog.*", "--group", group, "--count", "3", "--json", "--timeout", "5s"])).toBe(0)
      const lines = jsonLines(rest.stdout())
      expect(lines.map((m) => m.id)).toEqual(ids.slice(1))
      expect(lines.map((m) => m.attempt)).toEqual([1, 1, 1])
    } finally {
      await bus.close()
    }
  })

  it("--count and --rate publish a load with one receipt per message", async () => {
    const cli = inProcess({ OMNIBUS_URL: `memory://${broker()}` })
    expect(await cli.run(["publish", "load.test", "{}", "--count", "20", "--rate", "400"])).toBe(0)
    expect(new Set(cli.stdout().trim().split("\n")).size).toBe(20)
    expect(cli.stderr()).toMatch(/published 20 messages .*\/s\)/)
    expect(cli.stderr()).not.toContain("published 1/20")
  })

  it("the progress line follows standard error's terminal: ids piped to a file keep it visible, and off stdout", async () => {
    const cli = inProcess({ OMNIBUS_URL: `memory://${broker()}` }, { errTty: true })
    expect(await cli.run(["publish", "load.test", "{}", "--count", "5"])).toBe(0)
    expect(cli.stdout().trim().split("\n")).toHaveLength(5)
    expect(cli.stdout()).not.toContain("published")
    expect(cli.stderr()).toContain("\r\x1b[2Kpublished 5/5")
  })

  it("request ↔ serve", async () => {
    const env = { OMNIBUS_URL: `memory://${broker()}` }
    const server = inProcess(env)
    const serving = server.run(["serve", "users.get", "--reply", '{"name":"Ada"}', "--json"])
    await eventually(async () => (server.stderr().includes("serving users.get") ? true : undefined), 5_000, "serve to start")
    const client = inProcess(env)
    expect(await client.run(["request", "users.get", '{"id":7}', "--timeout", "2s"])).toBe(0)
    expect(JSON.parse(client.stdout())).toEqual({ name: "Ada" })
    server.stop()
    expect(await serving).toBe(0)
    expect(jsonLines(server.stdout())[0]).toMatchObject({ method: "users.get", payload: { id: 7 } })
    const none = inProcess(env)
    expect(await none.run(["request", "users.get", "{}", "--timeout", "300ms"])).toBe(1)
    expect(none.stderr()).toMatch(/^omnibus: (NoResponders|RequestTimeout): /)
  })

  it("dlq list, show, replay by id, purge; prompts and refusals", async () => {
    const url = `memory://${broker()}`
    const env = { OMNIBUS_URL: url }
    const group = `billing-${randomUUID().slice(0, 6)}`
    const bus = await connect(url)
    const failedOnce = new Set<string>()
    const handled: string[] = []
    await bus.subscribe("invoices.*", (m) => {
      if (!failedOnce.has(m.id)) {
        failedOnce.add(m.id)
        throw new PermanentError("card declined", { code: "E42" })
      }
      handled.push(m.id)
    }, { group })
    try {
      await bus.publish("invoices.a", { n: 1 })
      await bus.publish("invoices.b", { n: 2 })
      const listed = await eventually(async () => {
        const cli = inProcess(env)
        await cli.run(["dlq", "list", group, "--json"])
        const rows = jsonLines(cli.stdout())
        return rows.length === 2 ? rows : undefined
      }, 5_000, "two dead letters")
      expect(listed[0]).toMatchObject({ routingKey: "invoices.a", errorName: "PermanentError", error: "card declined", errorCode: "E42", attempts: 1, group })
      const [first, second] = listed.map((r) => r.id as string) as [string, string]

      const table = inProcess(env)
      expect(await table.run(["dlq", "list", group])).toBe(0)
      expect(table.stdout()).toMatch(/^ID +ROUTING KEY +ERROR +MESSAGE +ATTEMPTS +FIRST FAILURE +LAST FAILURE\n/)
      expect(table.stdout()).toContain("card declined")

      const show = inProcess(env)
      expect(await show.run(["dlq", "show", group, second, "--json"])).toBe(0)
      expect(JSON.parse(show.stdout())).toMatchObject({ id: second, payload: { n: 2 } })
      expect(await inProcess(env).run(["dlq", "show", group, "no-such-id"])).toBe(1)

      // No terminal and no --yes: refused before anything happens.
      const refused = inProcess(env)
      expect(await refused.run(["dlq", "purge", group])).toBe(2)
      expect(refused.stderr()).toMatch(/^omnibus: UsageError: refusing to purge .* pass --yes \(see omnibus dlq --help\)\n$/)
      expect(await inProcess(env, { confirm: false }).run(["dlq", "replay", group])).toBe(1)

      const replay = inProcess(env, { confirm: true })
      expect(await replay.run(["dlq", "replay", group, "--id", first])).toBe(0)
      expect(replay.stdout()).toBe(`replayed 1 dead letter to group ${group}\n`)
      await eventually(async () => (handled.includes(first) ? true : undefined), 5_000, "the replayed message handled")

      const purge = inProcess(env)
      expect(await purge.run(["dlq", "purge", group, "--yes"])).toBe(0)
      expect(purge.stdout()).toBe(`purged 1 dead letter of group ${group}\n`)
      const empty = inProcess(env)
      expect(await empty.run(["dlq", "list", group, "--json"])).toBe(0)
      expect(empty.stdout()).toBe("")
    } finally {
      await bus.close()
    }
  })

  it("topology: per group ready, unacked, consumers, dead letters and patterns, per method its servers; a table or JSON", async () => {
    const url = `memory://${broker()}`
    const env = { OMNIBUS_URL: url }
    const bus = await connect(url)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let holding = false
    try {
      await bus.subscribe("orders.*", async (m) => {
        if (m.routingKey === "orders.bad") throw new PermanentError("bad order")
        holding = true
        await held
      }, { group: "billing" })
      await (await bus.subscribe("orders.#", () => {}, { group: "audit" })).close()
      await bus.handle("users.get", () => ({}))
      await bus.publish("orders.bad", {})
      await bus.publish("orders.good", {})
      await eventually(async () => (holding && (await bus.deadLetters.list("billing")).length === 1 ? true : undefined), 5_000, "a held message and a dead letter")

      const json = inProcess(env)
      expect(await json.run(["topology", "--json"])).toBe(0)
      const report = JSON.parse(json.stdout()) as TopologyReport
      expect(report).toMatchObject({ transport: "memory", namespace: expect.stringContaining(url.slice("memory://".length)) as string })
      expect(report.groups).toEqual([
        { group: "audit", patterns: ["orders.#"], ephemeral: false, objects: expect.arrayContaining([expect.objectContaining({ role: "group", ready: 2, unacked: 0, consumers: 0 })]) as unknown },
        {
          group: "billing",
          patterns: ["orders.*"],
          ephemeral: false,
          objects: expect.arrayContaining([expect.objectContaining({ role: "group", ready: 0, unacked: 1, consumers: 1 }), expect.objectContaining({ role: "dead-letters", messages: 1 })]) as unknown,
        },
      ])
      expect(report.methods).toEqual([{ method: "users.get", objects: [expect.objectContaining({ role: "servers", consumers: 1 })] }])

      const table = inProcess(env)
      expect(await table.run(["topology", "--group", "billing", "--group", "nobody"])).toBe(0)
      expect(table.stdout()).toMatch(/^OF +PATTERNS +KIND +NAME +ROLE +MESSAGES +READY +UNACKED +CONSUMERS +DETAIL\n/)
      expect(table.stdout()).toMatch(/\nbilling +orders\.\* +queue +billing +group +1 +0 +1 +1 /)
      expect(table.stdout()).toMatch(/\nnobody +- +- +- .*nothing on the broker\n/)
      expect(table.stderr()).toMatch(/^memory at memory:\/\/cli-/)

      const namespaced = inProcess(env)
      expect(await namespaced.run(["topology", "--namespace", "shop"])).toBe(2)
      expect(namespaced.stderr()).toMatch(/^omnibus: InvalidOptions: .*memory:\/\/ has none/)
    } finally {
      release()
      await bus.close()
    }
  })

  it("health, help and usage errors", async () => {
    const cli = inProcess({ OMNIBUS_URL: `memory://${broker()}` })
    expect(await cli.run(["health"])).toBe(0)
    expect(cli.stdout()).toMatch(/^healthy: memory/)
    const help = inProcess()
    expect(await help.run(["--help"])).toBe(0)
    expect(help.stdout()).toMatch(/Exit codes:/)
    for (const command of ["publish", "tail", "request", "serve", "dlq", "topology", "health", "asyncapi"]) {
      const c = inProcess()
      expect(await c.run([command, "--help"])).toBe(0)
      expect(c.stdout()).toMatch(/Examples:\n {2}omnibus /)
    }
    const noUrl = inProcess()
    expect(await noUrl.run(["health"])).toBe(2)
    expect(noUrl.stderr()).toMatch(/^omnibus: UsageError: no broker URL/)
    const bad = inProcess({ OMNIBUS_URL: "memory://x" })
    expect(await bad.run(["publish", "a.b", "{not json"])).toBe(2)
    expect(await bad.run(["publish", "a.b", "{}", "--count", "0"])).toBe(2)
    expect(await bad.run(["frobnicate"])).toBe(2)
    expect(await inProcess({ OMNIBUS_URL: "nope://x" }).run(["health"])).toBe(2)
  })
})
