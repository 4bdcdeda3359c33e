/** `omnibus topology`: what Omnibus created on the broker for a namespace, with depths and consumers (each adapter's topologyReport). */
import { redactUrl, resolveAdapter, type BrokerObject, type TopologyReport } from "@omnibus/core/adapter"
import { brokerUrl, COMMON_HELP, expectPositionals, parse } from "../args.ts"
import type { Command } from "../command.ts"
import { loadAdapter } from "../connection.ts"
import { EXIT_OK, UsageError } from "../errors.ts"
import type { Io } from "../io.ts"
import { note, printJsonLine, table } from "../output.ts"

const OPTIONS = {
  namespace: { type: "string" },
  group: { type: "string", multiple: true },
  method: { type: "string", multiple: true },
  json: { type: "boolean" },
} as const

/** The numbers of a row, in column order; a column no row has a number in is left out. */
const COUNTS = [
  ["MESSAGES", "messages"],
  ["READY", "ready"],
  ["UNACKED", "unacked"],
  ["LAG", "lag"],
  ["CONSUMERS", "consumers"],
  ["WAITING", "waiting"],
] as const satisfies ReadonlyArray<readonly [string, keyof BrokerObject]>

interface Row {
  readonly of: string
  readonly patterns: string
  readonly object: BrokerObject | undefined
}

const rowsOf = (report: TopologyReport): ReadonlyArray<Row> => [
  ...report.shared.map((object) => ({ of: "(shared)", patterns: "", object })),
  ...report.groups.flatMap((g): ReadonlyArray<Row> => {
    const patterns = g.patterns?.join(" ") ?? ""
    const of = g.ephemeral ? `${g.group} (ephemeral)` : g.group
    // A group asked for by name with nothing on the broker is shown, not dropped.
    if (g.objects.length === 0) return [{ of, patterns, object: undefined }]
    return g.objects.map((object, i) => ({ of, patterns: i === 0 ? patterns : "", object }))
  }),
  ...report.methods.flatMap((m): ReadonlyArray<Row> => {
    const of = `${m.method} (rpc)`
    return m.objects.length === 0 ? [{ of, patterns: "", object: undefined }] : m.objects.map((object) => ({ of, patterns: "", object }))
  }),
]

const printTable = (io: Io, report: TopologyReport): void => {
  const rows = rowsOf(report)
  const counts = COUNTS.filter(([, field]) => rows.some((r) => r.object?.[field] !== undefined))
  const withPatterns = rows.some((r) => r.patterns !== "")
  const head = ["OF", ...(withPatterns ? ["PATTERNS"] : []), "KIND", "NAME", "ROLE", ...counts.map(([h]) => h), "DETAIL"]
  const cells = rows.map((r) => {
    const o = r.object
    return [
      r.of,
      ...(withPatterns ? [r.patterns] : []),
      o?.kind ?? "-",
      o?.name ?? "-",
      o?.role ?? "-",
      ...counts.map(([, field]) => String(o?.[field] ?? "-")),
      o === undefined ? "nothing on the broker" : (o.detail ?? ""),
    ]
  })
  io.out(table(io, head, cells))
}

export const topology: Command = {
  name: "topology",
  summary: "what Omnibus created on the broker: exchanges, queues, streams, topics, keys per group, with depths",
  help: `Usage: omnibus topology [options]

Lists the broker objects Omnibus created for a namespace: the shared ones (events
exchange, stream or topic, RPC exchange, dead-letter streams) and, per group and RPC
method, its queues, consumers, consumer groups, topics or keys, with what the broker
tells of each: messages stored, ready (waiting for the group), unacked (delivered, not
yet acknowledged), lag (Kafka), consumers, waiting pull requests (NATS).
A table, or with --json the report as one JSON object. Nothing is created or changed.

RabbitMQ cannot list queues over AMQP (the management API is not used): name the
groups and methods to look up with --group and --method.

Options:
  --namespace <ns>     the namespace: RabbitMQ queue prefix <ns>. (RPC exchange <ns>.rpc), NATS events
                       stream, Redis namespace, Kafka topic prefix (default: the adapter's)
  --group <g>          only this group (repeatable); on RabbitMQ, a group to look up
  --method <m>         only this RPC method (repeatable); on RabbitMQ, a method to look up
  --json               the report as one JSON object
${COMMON_HELP}
Examples:
  omnibus topology --url nats://127.0.0.1:4222
  omnibus topology --url redis://127.0.0.1:6379 --namespace shop --group billing
  omnibus topology --url amqp://guest:guest@127.0.0.1:5672 --group billing --group payroll --method employee.search
  omnibus topology --url kafka://127.0.0.1:9092 --json | jq '.groups[] | {group, lag: [.objects[].lag]}'
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    expectPositionals(positionals, 0, 0, "omnibus topology")
    const url = brokerUrl(values.url, io.env)
    const adapter = await loadAdapter(url)
    if (adapter === undefined) {
      // Unknown schemes fail here with InvalidUrl naming the registered ones.
      const factory = await resolveAdapter(url)
      throw new UsageError(`the ${factory.name} adapter has no topology report`)
    }
    const report = await adapter.topologyReport(url, {
      ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
      ...(values.group !== undefined ? { groups: values.group } : {}),
      ...(values.method !== undefined ? { methods: values.method } : {}),
    })
    if (values.json) {
      printJsonLine(io, { url: redactUrl(url), ...report })
      return EXIT_OK
    }
    note(io, "dim", `${report.transport} at ${redactUrl(url)}: ${report.namespace}\n`)
    printTable(io, report)
    for (const line of report.notes) note(io, "dim", `note: ${line}\n`)
    return EXIT_OK
  },
}
