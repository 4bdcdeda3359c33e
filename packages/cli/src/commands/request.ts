/** `omnibus request`: one RPC call; prints the reply. */
import { brokerUrl, COMMON_HELP, duration, expectPositionals, headers, parse } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_OK } from "../errors.ts"
import { inline, printJsonLine, toJson } from "../output.ts"
import { outgoing, protoCodec } from "../payload.ts"

const USAGE = "omnibus request <method> [payload|-]"

const OPTIONS = {
  timeout: { type: "string" },
  text: { type: "boolean" },
  header: { type: "string", multiple: true },
  proto: { type: "string" },
  type: { type: "string" },
  json: { type: "boolean" },
} as const

export const request: Command = {
  name: "request",
  summary: "call an RPC method and print the reply",
  help: `Usage: ${USAGE} [options]

Sends a request (JSON unless --text; - reads standard input) and prints the reply's
payload. Exit code 1 when no server answers (NoResponders), in time (RequestTimeout),
or the server failed (RemoteError).

Options:
  --timeout <dur>      how long to wait for the reply (default 5s)
  --text               send the payload as text/plain
  --header <k=v>       a header (repeatable)
  --proto <file>       encode the JSON payload as protobuf (with --type)
  --type <pkg.Msg>     the protobuf message type in --proto
  --json               print {"payload","headers","correlationId","contentType"} as one JSON line
${COMMON_HELP}
Examples:
  omnibus request employees.get '{"id":7}'
  omnibus request health.ping --timeout 2s
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, OPTIONS)
    expectPositionals(positionals, 1, 2, USAGE)
    const [method, argument] = positionals as [string, string | undefined]
    const timeout = duration("timeout", values.timeout) ?? 5_000
    const url = brokerUrl(values.url, io.env)
    const { value, codec } = await outgoing(argument, { text: values.text, proto: protoCodec(values.proto, values.type) }, io)
    return withBus(url, async (bus) => {
      const reply = await bus.requestReply(method, value, { timeout, codec, headers: headers(values.header) })
      if (values.json) printJsonLine(io, { payload: reply.payload, headers: reply.headers, correlationId: reply.correlationId ?? null, contentType: reply.contentType })
      else io.out(`${io.tty && typeof reply.payload === "object" ? toJson(reply.payload, 2) : inline(reply.payload)}\n`)
      return EXIT_OK
    })
  },
}
