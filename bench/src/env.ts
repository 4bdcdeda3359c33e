/**
 * Where the brokers are (OMNIBUS_<BROKER>_URL, else the local broker on its
 * standard port; Kafka from scripts/kafka.sh's URL file) and what this
 * machine is, for the report.
 */
import { execFile, fork, type ChildProcess, type StdioOptions } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { cpus, totalmem, release, platform, loadavg } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Socket } from "node:net"
import { promisify } from "node:util"
import type { Broker } from "./types.ts"

const run = promisify(execFile)
export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "")

/**
 * The RabbitMQ queue type of both Omnibus' groups and the raw amqplib contender's queues:
 * OMNIBUS_BENCH_RABBITMQ_QUEUE_TYPE=quorum measures quorum queues (child processes inherit it).
 */
export const rabbitmqQueueType = (): "classic" | "quorum" => (process.env.OMNIBUS_BENCH_RABBITMQ_QUEUE_TYPE === "quorum" ? "quorum" : "classic")

/**
 * The environment of a child process that loads Omnibus the way a user's process does: from dist/.
 * scripts/run.sh sets the "@omnibus/source" condition (workspace packages resolve to their .ts sources);
 * a child that inherited it would type-strip core and the adapter (≈25 MiB more RSS and twice the CPU
 * of their built .js) while the raw clients load plain .js.
 */
const SOURCE_CONDITION = "--conditions=@omnibus/source"

export const distEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  const rest = (env.NODE_OPTIONS ?? "").split(/\s+/).filter((o) => o && o !== SOURCE_CONDITION).join(" ")
  if (rest) env.NODE_OPTIONS = rest
  else delete env.NODE_OPTIONS
  return env
}

/** Forks a bench module that loads Omnibus from dist/ (distEnv, and without the condition in execArgv), with gc exposed; `env` is added. */
export const forkOnDist = (module: URL, env: Readonly<Record<string, string>>, stdio: StdioOptions): ChildProcess =>
  fork(fileURLToPath(module), [], {
    execArgv: [...process.execArgv.filter((a) => a !== SOURCE_CONDITION), "--expose-gc"],
    env: { ...distEnv(), ...env },
    stdio,
  })

/** Loopback only: a URL pointing elsewhere is refused. */
const loopback = (url: string): string => {
  const host = /^[a-z]+:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?,]+)/i.exec(url)?.[1] ?? ""
  if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) throw new Error(`bench: ${host} is not a loopback address; the benchmark only talks to brokers on this machine`)
  return url
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = new Socket()
    s.setTimeout(1_000)
    s.once("connect", () => { s.destroy(); resolve(true) })
    s.once("error", () => resolve(false))
    s.once("timeout", () => { s.destroy(); resolve(false) })
    s.connect(port, "127.0.0.1")
  })

/** kafka.sh writes `OMNIBUS_KAFKA_URL=kafka://…` into .omnibus/kafka/url. */
export const kafkaUrlFromFile = (): string | undefined => {
  const f = join(ROOT, ".omnibus/kafka/url")
  if (!existsSync(f)) return undefined
  const line = readFileSync(f, "utf8").trim()
  return line.replace(/^OMNIBUS_KAFKA_URL=/, "") || undefined
}

export interface BrokerTarget {
  readonly broker: Broker
  readonly url: string
  readonly available: boolean
  readonly reason?: string
}

const STANDARD: Record<Exclude<Broker, "memory" | "kafka">, [string, number]> = {
  rabbitmq: ["amqp://guest:guest@127.0.0.1:5672", 5672],
  nats: ["nats://127.0.0.1:4222", 4222],
  redis: ["redis://127.0.0.1:6379", 6379],
}

export const locate = async (broker: Broker): Promise<BrokerTarget> => {
  if (broker === "memory") return { broker, url: "memory://", available: true }
  const env = process.env[`OMNIBUS_${broker.toUpperCase()}_URL`]
  if (broker === "kafka") {
    let url = env?.replace(/^OMNIBUS_KAFKA_URL=/, "") ?? kafkaUrlFromFile()
    if (url === undefined) {
      // Start the throwaway broker the tests use (idempotent; reuses a running one).
      try {
        await run("bash", [join(ROOT, "scripts/kafka.sh"), "start"], { timeout: 150_000 })
        url = kafkaUrlFromFile()
      } catch (e) {
        return { broker, url: "", available: false, reason: `scripts/kafka.sh start failed: ${(e as Error).message.split("\n")[0]}` }
      }
    }
    if (url === undefined) return { broker, url: "", available: false, reason: "no Kafka URL (.omnibus/kafka/url missing)" }
    loopback(url)
    const portOf = (u: string) => Number(/:(\d+)/.exec(u.replace(/^kafka:\/\//, ""))?.[1])
    if (await portOpen(portOf(url))) return { broker, url, available: true }
    if (env !== undefined) return { broker, url, available: false, reason: `nothing listens on ${url}` }
    // A stale URL file: the broker stopped. kafka.sh start brings up a fresh one (and rewrites the file).
    try {
      await run("bash", [join(ROOT, "scripts/kafka.sh"), "start"], { timeout: 150_000 })
    } catch (e) {
      return { broker, url, available: false, reason: `scripts/kafka.sh start failed: ${(e as Error).message.split("\n")[0]}` }
    }
    const fresh = kafkaUrlFromFile()
    return fresh && (await portOpen(portOf(fresh))) ? { broker, url: loopback(fresh), available: true } : { broker, url, available: false, reason: "Kafka did not come up" }
  }
  const [fallback, port] = STANDARD[broker]
  const url = loopback(env ?? fallback)
  const p = Number(/:(\d+)(?:[/?]|$)/.exec(url.replace(/^[a-z]+:\/\/(?:[^@/]*@)?/, "x:"))?.[1] ?? port)
  return (await portOpen(p)) ? { broker, url, available: true } : { broker, url, available: false, reason: `nothing listens on port ${p}` }
}

/** Host of a broker URL and its port, for raw clients. */
export const hostPort = (url: string): { host: string; port: number } => {
  const m = /^[a-z]+:\/\/(?:[^@/]*@)?([^:/?,]+):(\d+)/i.exec(url)
  if (!m) throw new Error(`bench: cannot read host:port from ${url.replace(/\/\/[^@/]*@/, "//***@")}`)
  return { host: m[1]!, port: Number(m[2]) }
}

const tryRun = async (cmd: string, args: ReadonlyArray<string>): Promise<string | undefined> => {
  try {
    const { stdout } = await run(cmd, [...args], { timeout: 20_000 })
    return stdout.trim()
  } catch {
    return undefined
  }
}

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly loadavg: ReadonlyArray<number>
  readonly brokers: Readonly<Record<string, string>>
  readonly clients: Readonly<Record<string, string>>
}

const pkgVersion = (name: string): string => {
  try {
    const p = join(ROOT, "bench/node_modules", name, "package.json")
    return (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version
  } catch {
    return "?"
  }
}

/** Broker versions come from the brokers themselves (server info / INFO / API). */
export const describeMachine = async (versions: Readonly<Record<string, string>>): Promise<Machine> => {
  const lscpu = await tryRun("lscpu", [])
  const model = /Model name:\s*(.+)/.exec(lscpu ?? "")?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown"
  const mhz = cpus()[0]?.speed
  return {
    cpu: mhz ? `${model} (${mhz} MHz)` : model,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    brokers: versions,
    clients: Object.fromEntries(
      ["amqplib", "@nats-io/transport-node", "@nats-io/jetstream", "ioredis", "kafkajs", "@platformatic/kafka", "moleculer", "nats", "vega", "vega-lite"].map((n) => [n, pkgVersion(n)]),
    ),
  }
}
