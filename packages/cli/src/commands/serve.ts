/** `omnibus serve`: a stub RPC server answering every request with a fixed reply. */
import { codecs, type Codec } from "@omnibus/core"
import { redactUrl } from "@omnibus/core/adapter"
import { brokerUrl, COMMON_HELP, expectPositionals, parse, positiveInt } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_OK, UsageError } from "../errors.ts"
import { headersText, inline, isoTime, note, paint, printJsonLine } from "../output.ts"

const USAGE = "omnibus serve <method> --reply <json>"

const OPTIONS = {
  reply: { type: "string" },
  text: { type: "boolean" },
  group: { type: "string" },
  count: { type: "string" },
  json: { type: "boolean" },
} as const

export const serve: Command = {
  name: "serve",
  summary: "answer an RPC method with a fixed reply (a stub server)",
  help: `Usage: ${USAGE} [options]

Serves a method until Ctrl-C/SIGTERM (or --count requests), answering each request
with the same reply, and prints every request it answers.

Options:
  --reply <json>       the reply (JSON; with --text, plain text)
  --text               the reply is text/plain
  --group <g>          servers in one group share the requests (default: the method name)
  --count <n>          stop after answering n requests
  --json               each request as one JSON line
${COMMON_HELP}
Examples:
  omnibus serve employees.get --reply '{"id":7,"name":"Ada"}'
  omnibus serve health.ping --reply pong --text --group canary
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    expectPositionals(positionals, 1, 1, USAGE)
    const method = positionals[0]!
    if (values.reply === undefined) throw new UsageError(`missing --reply: ${USAGE}`)
    let reply: unknown = values.reply
    if (!values.text) {
      try {
        reply = JSON.parse(values.reply) as unknown
      } catch {
        throw new UsageError("--reply is not JSON (use --text for plain text)")
      }
    }
    const count = positiveInt("count", values.count)
    const url = brokerUrl(values.url, io.env)
    return withBus(url, async (bus) => {
      let answered = 0
      let finish!: () => void
      const finished = new Promise<void>((resolve) => (finish = resolve))
      const server = await bus.handle(
        method,
        (req) => {
          answered++
          const r = { method: req.method, id: req.id, at: isoTime(Date.now()), headers: req.headers, payload: req.payload }
          if (values.json) printJsonLine(io, r)
          else io.out(`${paint(io, "dim", r.at)} ${paint(io, "cyan", method)} ${paint(io, "dim", `id=${r.id} ${headersText(r.headers)}`.trim())}\n  ${inline(r.payload)}\n`)
          if (count !== undefined && answered >= count) setImmediate(finish)
          return reply
        },
        { ...(values.group !== undefined ? { group: values.group } : {}), ...(values.text ? { responseCodec: codecs.text as Codec<unknown> } : {}) },
      )
      note(io, "dim", `omnibus: serving ${method} on ${redactUrl(url)} (group ${server.group}); Ctrl-C to stop\n`)
      io.signal.addEventListener("abort", finish, { once: true })
      // Interrupted while connecting or subscribing: the listener above would never fire.
      if (io.signal.aborted) finish()
      try {
        await finished
      } finally {
        io.signal.removeEventListener("abort", finish)
        await server.close()
      }
      return EXIT_OK
    })
  },
}
