/**
 * @omnibus/cli: the `omnibus` command (bin: dist/main.js). `run` is the whole
 * tool as a function, for embedding it or testing it in one process
 * (memory:// brokers live in one process).
 */
import type { Command } from "./command.ts"
import { asyncapi } from "./commands/asyncapi.ts"
import { dlq } from "./commands/dlq.ts"
import { health } from "./commands/health.ts"
import { publish } from "./commands/publish.ts"
import { request } from "./commands/request.ts"
import { serve } from "./commands/serve.ts"
import { tail } from "./commands/tail.ts"
import { topology } from "./commands/topology.ts"
import { EXIT_OK, EXIT_USAGE, UsageError, errorLine, exitCodeOf } from "./errors.ts"
import type { Io } from "./io.ts"

export type { Io } from "./io.ts"
export type { Command } from "./command.ts"
export { EXIT_OK, EXIT_FAILED, EXIT_USAGE } from "./errors.ts"

/** Every command, in the order the tool's help lists them. */
export const commands: ReadonlyArray<Command> = [publish, tail, request, serve, dlq, topology, health, asyncapi]

/** What `omnibus --help` prints. */
export const HELP = `omnibus: publish, tail, call and inspect dead letters and topology on any Omnibus broker.

Usage: omnibus <command> [arguments] [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n")}

Every command takes --help, and those that talk to a broker --url <url> (default: $OMNIBUS_URL).
URLs: amqp://user:pass@host:5672  nats://host:4222  redis://host:6379  kafka://host:9092  memory://name
Credentials in URLs are never printed.

Exit codes:
  0  done
  1  the operation failed (request timed out or failed, bus unhealthy, dead letter not found, cancelled)
  2  the command could not run (bad usage, bad URL, unreachable broker, refused credentials)

Examples:
  export OMNIBUS_URL=amqp://guest:guest@127.0.0.1:5672
  omnibus publish orders.created '{"orderId":42}'
  omnibus tail 'orders.#' --json
  omnibus request employees.get '{"id":7}' --timeout 2s
  omnibus dlq list billing
  omnibus topology --group billing
  omnibus health && echo up
  omnibus asyncapi src/contracts.ts > asyncapi.yaml

Run omnibus <command> --help for a command's options and examples.
`

/** Runs one command line (without the node and script arguments); returns the exit code, never throws. */
export const run = async (argv: ReadonlyArray<string>, io: Io): Promise<number> => {
  const [name, ...rest] = argv
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(HELP)
    return name === undefined ? EXIT_USAGE : EXIT_OK
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    io.err(errorLine(new UsageError(`unknown command ${JSON.stringify(name)} (try omnibus --help)`)))
    return EXIT_USAGE
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(command.help)
    return EXIT_OK
  }
  try {
    return await command.run(rest, io)
  } catch (e) {
    // Still one line: a usage error points at the command's help on the same line.
    io.err(errorLine(e instanceof UsageError ? new UsageError(`${e.message} (see omnibus ${command.name} --help)`) : e))
    return exitCodeOf(e)
  }
}
