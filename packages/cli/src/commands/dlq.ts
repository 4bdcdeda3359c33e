/** `omnibus dlq list|show|replay|purge`: a group's dead letters, with their failure metadata. */
import type { DeadLetterRecord } from "@omnibus/core"
import { brokerUrl, COMMON_HELP, expectPositionals, parse, positiveInt } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors.ts"
import type { Io } from "../io.ts"
import { cut, headersText, isoTime, note, paint, printJsonLine, table, toJson } from "../output.ts"
import { decodeBody, protoCodec } from "../payload.ts"
import type { Codec } from "@omnibus/core"

const USAGE = "omnibus dlq list|show|replay|purge <group> ..."

const OPTIONS = {
  json: { type: "boolean" },
  limit: { type: "string" },
  id: { type: "string", multiple: true },
  yes: { type: "boolean", short: "y" },
  proto: { type: "string" },
  type: { type: "string" },
} as const

const summaryOf = (d: DeadLetterRecord) => ({
  id: d.id,
  routingKey: d.routingKey,
  key: d.key ?? null,
  errorName: d.failure.errorName,
  error: d.failure.error,
  errorCode: d.failure.errorCode ?? null,
  attempts: d.failure.attempts,
  firstFailureAt: isoTime(d.failure.firstFailureAt),
  lastFailureAt: isoTime(d.failure.lastFailureAt),
  group: d.failure.group,
  timestamp: isoTime(d.timestamp),
  contentType: d.contentType,
  headers: d.headers,
})

const detailOf = (d: DeadLetterRecord, proto: Codec<unknown> | undefined) => ({ ...summaryOf(d), payload: decodeBody(d.body, d.contentType, proto) })

/**
 * Destructive commands ask first. Without a terminal to ask on (a script, a pipe), they
 * refuse unless --yes: a 3 a.m. command line pasted into the wrong shell must not purge.
 */
const confirmed = async (io: Io, yes: boolean | undefined, question: string): Promise<boolean> => {
  if (yes) return true
  if (io.confirm === undefined) throw new UsageError(`refusing to ${question.replace(/\?$/, "")} without a terminal to confirm on: pass --yes`)
  return io.confirm(question)
}

const cancelled = (io: Io): number => {
  io.err("cancelled\n")
  return EXIT_FAILED
}

const list = async (io: Io, group: string, values: { readonly json?: boolean | undefined; readonly limit?: string | undefined }, url: string): Promise<number> => {
  const limit = positiveInt("limit", values.limit)
  return withBus(url, async (bus) => {
    const letters = await bus.deadLetters.list(group, limit !== undefined ? { limit } : undefined)
    if (values.json) {
      for (const d of letters) printJsonLine(io, summaryOf(d))
      return EXIT_OK
    }
    if (letters.length === 0) {
      io.err(`no dead letters in group ${group}\n`)
      return EXIT_OK
    }
    const rows = letters.map((d) => [d.id, d.routingKey, d.failure.errorName, cut(d.failure.error, 60), String(d.failure.attempts), isoTime(d.failure.firstFailureAt), isoTime(d.failure.lastFailureAt)])
    io.out(table(io, ["ID", "ROUTING KEY", "ERROR", "MESSAGE", "ATTEMPTS", "FIRST FAILURE", "LAST FAILURE"], rows))
    note(io, "dim", `${letters.length} dead letter${letters.length === 1 ? "" : "s"} in group ${group}\n`)
    return EXIT_OK
  })
}

const show = async (io: Io, group: string, id: string, json: boolean | undefined, proto: Codec<unknown> | undefined, url: string): Promise<number> =>
  withBus(url, async (bus) => {
    // The API lists (oldest first) and has no lookup by id: scan the group's dead letters.
    const found = (await bus.deadLetters.list(group)).find((d) => d.id === id)
    if (found === undefined) {
      io.err(`omnibus: NotFound: no dead letter ${id} in group ${group}\n`)
      return EXIT_FAILED
    }
    const d = detailOf(found, proto)
    if (json) {
      printJsonLine(io, d)
      return EXIT_OK
    }
    const field = (name: string, value: string) => `${paint(io, "bold", name.padEnd(16))}${value}\n`
    io.out(
      field("id", d.id) +
        field("routing key", d.routingKey) +
        (d.key !== null ? field("key", d.key) : "") +
        field("group", d.group) +
        field("error", `${d.errorName}${d.errorCode !== null ? ` (${d.errorCode})` : ""}: ${d.error}`) +
        field("attempts", String(d.attempts)) +
        field("first failure", d.firstFailureAt) +
        field("last failure", d.lastFailureAt) +
        field("published", d.timestamp) +
        field("content type", d.contentType) +
        (Object.keys(d.headers).length ? field("headers", headersText(d.headers)) : "") +
        `${paint(io, "bold", "payload")}\n${toJson(d.payload, 2)}\n`,
    )
    return EXIT_OK
  })

export const dlq: Command = {
  name: "dlq",
  summary: "list, show, replay or purge a group's dead letters",
  help: `Usage:
  omnibus dlq list <group> [--limit n] [--json]
  omnibus dlq show <group> <id> [--json] [--proto file --type pkg.Msg]
  omnibus dlq replay <group> [--id id]... [--limit n] [--yes]
  omnibus dlq purge <group> [--yes]

list    the group's dead letters, oldest first: id, routing key, error name and
        message, attempts, first and last failure (a table; --json: one object per line)
show    one dead letter with its headers and decoded payload
replay  sends dead letters back to the group only (same routing key and id, attempts
        reset) and removes them from the dead-letter destination; --id picks which
        (repeatable), --limit how many (oldest first)
purge   drops every dead letter of the group

replay and purge ask for confirmation; without a terminal they refuse (exit 2) unless --yes.

Options:
  --json               JSON lines (list, show)
  --limit <n>          at most n dead letters (list, replay)
  --id <id>            replay only this dead letter (repeatable)
  -y, --yes            do not ask (replay, purge)
  --proto <file>       decode protobuf payloads with this schema (show, with --type)
  --type <pkg.Msg>     the protobuf message type in --proto
${COMMON_HELP}
Examples:
  omnibus dlq list billing
  omnibus dlq list billing --json | jq -r 'select(.errorName=="PermanentError") .id'
  omnibus dlq show billing 0193a1c2-7f00-7a4e-9b1e-3c1d2e4f5a6b
  omnibus dlq replay billing --id 0193a1c2-7f00-7a4e-9b1e-3c1d2e4f5a6b --yes
  omnibus dlq purge billing
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    const [action, group] = positionals
    if (action === undefined || group === undefined) throw new UsageError(`missing arguments: ${USAGE}`)
    const url = () => brokerUrl(values.url, io.env)
    switch (action) {
      case "list":
        expectPositionals(positionals, 2, 2, "omnibus dlq list <group>")
        return list(io, group, values, url())
      case "show":
        expectPositionals(positionals, 3, 3, "omnibus dlq show <group> <id>")
        return show(io, group, positionals[2]!, values.json, protoCodec(values.proto, values.type), url())
      case "replay": {
        expectPositionals(positionals, 2, 2, "omnibus dlq replay <group> [--id id]... [--limit n]")
        const limit = positiveInt("limit", values.limit)
        const which = values.id?.length ? `${values.id.length} chosen dead letter${values.id.length === 1 ? "" : "s"}` : limit !== undefined ? `up to ${limit} dead letters` : "every dead letter"
        const target = url()
        if (!(await confirmed(io, values.yes, `replay ${which} of group ${group}?`))) return cancelled(io)
        return withBus(target, async (bus) => {
          const n = await bus.deadLetters.replay(group, { ...(values.id?.length ? { ids: values.id } : {}), ...(limit !== undefined ? { limit } : {}) })
          io.out(`replayed ${n} dead letter${n === 1 ? "" : "s"} to group ${group}\n`)
          return EXIT_OK
        })
      }
      case "purge": {
        expectPositionals(positionals, 2, 2, "omnibus dlq purge <group>")
        const target = url()
        if (!(await confirmed(io, values.yes, `purge every dead letter of group ${group}?`))) return cancelled(io)
        return withBus(target, async (bus) => {
          const n = await bus.deadLetters.purge(group)
          io.out(`purged ${n} dead letter${n === 1 ? "" : "s"} of group ${group}\n`)
          return EXIT_OK
        })
      }
      default:
        throw new UsageError(`unknown dlq action ${JSON.stringify(action)}: ${USAGE}`)
    }
  },
}
