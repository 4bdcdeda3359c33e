#!/usr/bin/env node
/** The `omnibus` bin: wires the process (streams, terminal, signals) to `run` in index.ts. */
import { buffer } from "node:stream/consumers"
import { createInterface } from "node:readline/promises"
import { run, type Io } from "./index.ts"

const controller = new AbortController()
let interrupted = 0
const stop = () => {
  // A second Ctrl-C means "now": do not wait for the broker to acknowledge the close.
  if (++interrupted > 1) process.exit(130)
  controller.abort()
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)

const io: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  readStdin: async () => new Uint8Array(await buffer(process.stdin)),
  confirm:
    process.stdin.isTTY && process.stderr.isTTY
      ? async (question) => {
          const rl = createInterface({ input: process.stdin, output: process.stderr })
          try {
            return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim())
          } finally {
            rl.close()
          }
        }
      : undefined,
  tty: process.stdout.isTTY === true,
  errTty: process.stderr.isTTY === true,
  env: process.env,
  signal: controller.signal,
}

process.exitCode = await run(process.argv.slice(2), io)
