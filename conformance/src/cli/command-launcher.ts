/**
 * The broker of the conformance CLI's fault cases (28, 29, 34): not a process
 * the suite owns but the user's own broker, killed and started by the shell
 * commands they give (`--kill`, `--start`: e.g. `systemctl kill -s KILL
 * rabbitmq-server` and `systemctl start rabbitmq-server`, or docker kill/start).
 * Down means the URL's port refuses connections; up means it accepts them
 * again (the cases wait for the broker to serve on top of that).
 */
import { exec } from "node:child_process"
import { promisify } from "node:util"
import { accepts, waitUntil, type Launcher } from "../brokers/common.ts"

const run = promisify(exec)

export interface BrokerCommands {
  /** Kills the broker at once (SIGKILL or the platform's equivalent). */
  readonly kill: string
  /** Starts it again with its data. */
  readonly start: string
  /** How long the port may take to close after `kill` and to accept after `start` (default 120 s). */
  readonly timeoutMs?: number
}

const portOf = (url: URL): number => {
  if (url.port !== "") return Number(url.port)
  const defaults: Readonly<Record<string, number>> = { "amqp:": 5672, "amqps:": 5671, "nats:": 4222, "tls:": 4222, "redis:": 6379, "rediss:": 6379, "kafka:": 9092 }
  const port = defaults[url.protocol]
  if (port === undefined) throw new Error(`no default port for ${url.protocol} URLs: give the port in --url`)
  return port
}

export const commandLauncher = (brokerUrl: string, commands: BrokerCommands): Launcher => {
  const url = new URL(brokerUrl)
  const host = url.hostname
  const port = portOf(url)
  const timeoutMs = commands.timeoutMs ?? 120_000
  let up = true
  const shell = async (command: string, what: string): Promise<void> => {
    try {
      await run(command, { timeout: timeoutMs })
    } catch (e) {
      throw new Error(`${what} command failed (${command}): ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  const kill9 = async (): Promise<void> => {
    await shell(commands.kill, "--kill")
    up = false
    await waitUntil(async () => !(await accepts(port, host)), timeoutMs, `${host}:${port} to refuse connections after --kill`)
  }
  const start = async (): Promise<void> => {
    await shell(commands.start, "--start")
    await waitUntil(() => accepts(port, host), timeoutMs, `${host}:${port} to accept connections after --start`)
    up = true
  }
  return {
    kind: url.protocol.replace(/:$/, ""),
    url: brokerUrl,
    port,
    host,
    dir: "",
    options: {},
    tls: undefined,
    get pid() { return undefined },
    get running() { return up },
    start,
    kill9,
    restart: async () => {
      if (up) await kill9()
      await start()
    },
    shutdown: kill9,
    // the broker is the user's: it stays, running again if a case left it down
    stop: async () => {
      if (!up) await start()
    },
    urlWith: (change) => {
      const next = new URL(brokerUrl)
      if (change.port !== undefined) next.port = String(change.port)
      if (change.credentials === null) {
        next.username = ""
        next.password = ""
      } else if (change.credentials !== undefined) {
        next.username = encodeURIComponent(change.credentials.user)
        next.password = encodeURIComponent(change.credentials.password)
      }
      return next.toString()
    },
    log: () => "",
  }
}
