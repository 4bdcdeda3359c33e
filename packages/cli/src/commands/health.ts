/** `omnibus health`: exit code 0 when the bus is healthy, 1 when not. */
import { redactUrl } from "@omnibus/core/adapter"
import { brokerUrl, COMMON_HELP, expectPositionals, parse } from "../args.ts"
import type { Command } from "../command.ts"
import { withBus } from "../connection.ts"
import { EXIT_FAILED, EXIT_OK } from "../errors.ts"
import { paint, printJsonLine } from "../output.ts"

export const health: Command = {
  name: "health",
  summary: "check the broker connection (exit 0 healthy, 1 unhealthy)",
  help: `Usage: omnibus health [options]

Connects and asks the adapter whether the bus is ready. Exit code 0 when healthy,
1 when connected but unhealthy, 2 when the broker cannot be reached or refuses the credentials.

Options:
  --json               {"transport","url","ready","detail"} as one JSON line
${COMMON_HELP}
Examples:
  omnibus health --url amqp://guest:guest@127.0.0.1:5672
  OMNIBUS_URL=nats://127.0.0.1:4222 omnibus health && echo up
`,
  run: async (args, io) => {
    const { values, positionals } = parse(args, { json: { type: "boolean" } } as const)
    expectPositionals(positionals, 0, 0, "omnibus health")
    const url = brokerUrl(values.url, io.env)
    return withBus(url, async (bus) => {
      const h = await bus.health()
      if (values.json) printJsonLine(io, { transport: bus.transport, url: redactUrl(url), ready: h.ready, detail: h.detail ?? null })
      else {
        const state = h.ready ? paint(io, "green", "healthy") : paint(io, "red", "unhealthy")
        io.out(`${state}: ${bus.transport} at ${redactUrl(url)}${h.detail !== undefined ? ` (${h.detail})` : ""}\n`)
      }
      return h.ready ? EXIT_OK : EXIT_FAILED
    })
  },
}
