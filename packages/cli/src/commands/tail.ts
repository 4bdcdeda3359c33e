/** `omnibus tail`: prints messages as they arrive, from an ephemeral subscription or a group. */
import { redactUrl } from "@omnibus/core/adapter"
import type { Message, Subscription } from "@omnibus/core"
import { brokerUrl, COMMON_HELP, duration, expectPositionals, parse, positiveInt } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_FAILED, EXIT_OK } from "../errors.ts"
import type { Io } from "../io.ts"
import { headersText, inline, isoTime, note, paint, printJsonLine } from "../output.ts"
import { decodeBody, protoCodec } from "../payload.ts"
import type { Codec } from "@omnibus/core"

const USAGE = "omnibus tail <pattern...>"

const OPTIONS = {
  group: { type: "string" },
  json: { type: "boolean" },
  count: { type: "string" },
  timeout: { type: "string" },
  proto: { type: "string" },
  type: { type: "string" },
} as const

const record = (m: Message<unknown>, proto: Codec<unknown> | undefined) => ({
  routingKey: m.routingKey,
  id: m.id,
  key: m.key ?? null,
  attempt: m.attempt,
  redeliveries: m.redeliveries,
  group: m.group,
  timestamp: isoTime(m.timestamp),
  correlationId: m.correlationId ?? null,
  contentType: m.contentType,
  headers: m.headers,
  payload: decodeBody(m.body, m.contentType, proto),
})

const human = (io: Io, r: ReturnType<typeof record>): string => {
  const meta = [`id=${r.id}`, ...(r.key !== null ? [`key=${r.key}`] : []), `attempt=${r.attempt}`, ...(Object.keys(r.headers).length ? [headersText(r.headers)] : [])]
  return `${paint(io, "dim", r.timestamp)} ${paint(io, "cyan", r.routingKey)} ${paint(io, "dim", meta.join(" "))}\n  ${inline(r.payload)}\n`
}

export const tail: Command = {
  name: "tail",
  summary: "print messages matching patterns as they arrive (ephemeral, or --group)",
  help: `Usage: ${USAGE} [options]

Subscribes to routing-key patterns (* = one word, # = zero or more) and prints
each message: routing key, id, key, attempt, headers and the decoded payload
(JSON or text by content type; protobuf with --proto/--type; other bytes as base64).
Without --group the subscription is ephemeral: it sees only messages published
while it runs, takes nothing from any group, and leaves nothing on the broker
when it ends (Ctrl-C, SIGTERM, --count or --timeout).

Options:
  --group <g>          join group g instead (competing with its other consumers: messages printed here are consumed;
                       with --count, one at a time, and the rest stay with the group)
  --json               one JSON object per message and line
  --count <n>          stop after n messages
  --timeout <dur>      stop after dur (e.g. 30s, 2m); with --count, reaching it first is a failure (exit 1)
  --proto <file>       decode protobuf payloads with this schema (with --type)
  --type <pkg.Msg>     the protobuf message type in --proto
${COMMON_HELP}
Examples:
  omnibus tail 'orders.#'
  omnibus tail 'orders.*' 'payments.failed' --json | jq .payload
  omnibus tail employees.hired --proto employee.proto --type hr.Employee --count 1 --timeout 30s
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    expectPositionals(positionals, 1, Number.POSITIVE_INFINITY, USAGE)
    const count = positiveInt("count", values.count)
    const timeoutMs = duration("timeout", values.timeout)
    const proto = protoCodec(values.proto, values.type)
    const url = brokerUrl(values.url, io.env)
    const group = values.group
    return withBus(url, async (bus) => {
      let seen = 0
      let finish!: () => void
      const finished = new Promise<void>((resolve) => (finish = resolve))
      let subscription: Subscription | undefined
      subscription = await bus.subscribe(
        positionals,
        (m) => {
          if (count !== undefined && seen >= count) {
            // Past --count in a group: only if the adapter hands over a delivery after the stop
            // below. Core has no way for a handler to give a message back without failing it, so
            // it is failed: retried, not lost, but at the cost of an attempt.
            if (group !== undefined) throw new Error("omnibus tail reached --count")
            return
          }
          seen++
          const r = record(m, proto)
          if (values.json) printJsonLine(io, r)
          else io.out(human(io, r))
          if (count !== undefined && seen >= count) {
            finish()
            // In a group with --count, one delivery at a time (prefetch 1): closing here stops
            // the consumer before this delivery is acked (close waits for this handler), so the
            // ack frees no slot for another message of the group to come here.
            if (group !== undefined) void subscription?.close()
          }
        },
        group === undefined ? { retry: false, deadLetter: false } : count === undefined ? { group } : { group, concurrency: 1, prefetch: 1 },
      )
      const kind = group !== undefined ? `group ${subscription.group}` : `ephemeral group ${subscription.group}`
      note(io, "dim", `omnibus: tailing ${positionals.join(" ")} on ${redactUrl(url)} (${kind}); Ctrl-C to stop\n`)
      const timer = timeoutMs !== undefined ? setTimeout(finish, timeoutMs) : undefined
      io.signal.addEventListener("abort", finish, { once: true })
      // Interrupted while connecting or subscribing: the listener above would never fire.
      if (io.signal.aborted) finish()
      try {
        await finished
      } finally {
        if (timer !== undefined) clearTimeout(timer)
        io.signal.removeEventListener("abort", finish)
        await subscription.close()
      }
      return count !== undefined && seen < count && !io.signal.aborted ? EXIT_FAILED : EXIT_OK
    })
  },
}
