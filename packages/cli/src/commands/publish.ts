/** `omnibus publish`: one message, or a load of N at a rate, with receipts and a summary. */
import { setTimeout as sleep } from "node:timers/promises"
import { redactUrl } from "@omnibus/core/adapter"
import { brokerUrl, COMMON_HELP, expectPositionals, headers, parse, positiveInt, positiveNumber } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors.ts"
import { endProgress, note, printJsonLine, progress } from "../output.ts"
import { outgoing, protoCodec } from "../payload.ts"

const USAGE = "omnibus publish <routing-key> [payload|-]"

const OPTIONS = {
  text: { type: "boolean" },
  raw: { type: "boolean" },
  key: { type: "string" },
  header: { type: "string", multiple: true },
  id: { type: "string" },
  count: { type: "string" },
  rate: { type: "string" },
  proto: { type: "string" },
  type: { type: "string" },
  json: { type: "boolean" },
} as const

/** Publishes in flight at once without --rate: enough to fill a pipe, few enough to stop at the first failure. */
const WINDOW = 64

export const publish: Command = {
  name: "publish",
  summary: "publish a message (JSON, text, raw bytes or protobuf); --count/--rate for load",
  help: `Usage: ${USAGE} [options]

Publishes a payload under a routing key and prints each receipt's message id.
The payload is JSON unless --text or --raw; - (or nothing with --raw) reads standard input.

Options:
  --text               send the payload as text/plain
  --raw                send standard input's bytes as application/octet-stream
  --proto <file>       encode the JSON payload as protobuf (with --type)
  --type <pkg.Msg>     the protobuf message type in --proto
  --key <key>          ordering / partition key
  --header <k=v>       a header (repeatable)
  --id <id>            message id (default: a fresh UUID v7; same id = same message)
  --count <n>          publish the payload n times (load)
  --rate <r>           at most r messages per second
  --json               receipts as JSON lines ({"id":...})
${COMMON_HELP}
Examples:
  omnibus publish orders.created '{"orderId":42}'
  echo '{"orderId":42}' | omnibus publish orders.created - --key customer-7 --header source=ops
  omnibus publish logs.line 'disk full' --text
  omnibus publish orders.created '{"orderId":1}' --count 10000 --rate 500
  omnibus publish employees.hired '{"name":"Ada"}' --proto employee.proto --type hr.Employee
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    expectPositionals(positionals, 1, 2, USAGE)
    const [routingKey, argument] = positionals as [string, string | undefined]
    const count = positiveInt("count", values.count) ?? 1
    const rate = positiveNumber("rate", values.rate)
    if (values.id !== undefined && count > 1) throw new UsageError("--id with --count would publish one message (same id = same message)")
    const url = brokerUrl(values.url, io.env)
    const { value, codec } = await outgoing(argument, { text: values.text, raw: values.raw, proto: protoCodec(values.proto, values.type) }, io)
    const options = {
      codec,
      headers: headers(values.header),
      ...(values.key !== undefined ? { key: values.key } : {}),
      ...(values.id !== undefined ? { id: values.id } : {}),
    }
    return withBus(url, async (bus) => {
      const started = Date.now()
      let sent = 0
      const receipt = (id: string) => {
        sent++
        if (values.json) printJsonLine(io, { id })
        else io.out(`${id}\n`)
        if (count > 1) progress(io, `published ${sent}/${count}`)
      }
      for (let i = 0; i < count && !io.signal.aborted; ) {
        if (rate !== undefined) {
          // Paced against the start time, so slow publishes do not drift the rate down.
          const due = started + (i * 1000) / rate
          if (due > Date.now()) await sleep(due - Date.now())
          receipt((await bus.publish(routingKey, value, options)).id)
          i++
        } else {
          const batch = Math.min(WINDOW, count - i)
          const receipts = await Promise.all(Array.from({ length: batch }, () => bus.publish(routingKey, value, options)))
          for (const r of receipts) receipt(r.id)
          i += batch
        }
      }
      endProgress(io)
      const ms = Date.now() - started
      const took = ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
      const perSecond = count > 1 && ms > 0 ? `, ${Math.round((sent * 1000) / ms)}/s` : ""
      note(io, "green", `published ${sent} message${sent === 1 ? "" : "s"} to ${routingKey} on ${redactUrl(url)} (${took}${perSecond})\n`)
      // Interrupted before the last one: the run did not do what was asked.
      return sent === count ? EXIT_OK : EXIT_FAILED
    })
  },
}
