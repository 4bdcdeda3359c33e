/**
 * The `import` workload: what a user's process pays to load Omnibus (core +
 * one adapter) against the broker's raw client, measured on the built
 * packages (dist/) the way a user gets them. Every sample is a fresh `node`
 * started in bench/ (whose node_modules resolve every workspace package)
 * without the "@omnibus/source" condition (env.ts distEnv), so the exports
 * resolve to dist/. It prints performance.now() (time since the
 * process started, Node's own start-up included), the CPU time so far (less
 * sensitive than wall time to a loaded machine) and the RSS once the imports
 * are done; Omnibus on memory:// also times its first connect and close, since
 * what core loads lazily is paid there.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { distEnv, ROOT } from "./env.ts"
import type { Broker } from "./types.ts"

export interface ImportContender {
  /** "omnibus", the raw client's contender name, or "bare node" (imports nothing). */
  readonly name: string
  readonly kind: "omnibus" | "raw"
  readonly modules: ReadonlyArray<string>
  /** Also time the first `connect(url)` + `close()` (Omnibus on memory://). */
  readonly connect?: string
}

/** Per broker: Omnibus as a user imports it, and the raw client the adapter is built on. */
export const IMPORT_CONTENDERS: Record<Broker, ReadonlyArray<ImportContender>> = {
  rabbitmq: [
    { name: "omnibus", kind: "omnibus", modules: ["@omnibus/core", "@omnibus/rabbitmq"] },
    { name: "amqplib", kind: "raw", modules: ["amqplib"] },
  ],
  nats: [
    { name: "omnibus", kind: "omnibus", modules: ["@omnibus/core", "@omnibus/nats"] },
    { name: "nats.js", kind: "raw", modules: ["@nats-io/transport-node", "@nats-io/jetstream"] },
  ],
  redis: [
    { name: "omnibus", kind: "omnibus", modules: ["@omnibus/core", "@omnibus/redis"] },
    { name: "ioredis", kind: "raw", modules: ["ioredis"] },
  ],
  kafka: [
    { name: "omnibus", kind: "omnibus", modules: ["@omnibus/core", "@omnibus/kafka"] },
    { name: "platformatic-kafka", kind: "raw", modules: ["@platformatic/kafka"] },
  ],
  memory: [
    { name: "omnibus", kind: "omnibus", modules: ["@omnibus/core", "@omnibus/memory"], connect: "memory://" },
    { name: "bare node", kind: "raw", modules: [] },
  ],
}

const MiB = 2 ** 20

/** The script one sample runs: imports, then (optionally) a first connect and close. */
const script = (c: ImportContender): string =>
  [
    ...c.modules.map((m, i) => `const m${i} = await import(${JSON.stringify(m)})`),
    `const ms = performance.now(), rss = process.memoryUsage.rss(), cpu = process.cpuUsage()`,
    c.connect
      ? `const t = performance.now(); const bus = await m0.connect(${JSON.stringify(c.connect)}); await bus.close(); const connectMs = performance.now() - t, connectRss = process.memoryUsage.rss()`
      : `const connectMs = undefined, connectRss = undefined`,
    `process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, rss, connectMs, connectRss }))`,
  ].join("\n")

/** One fresh process: import time (ms since the process started) and RSS (MiB), and the first connect's. */
export const sampleImport = (c: ImportContender): Promise<Record<string, number>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script(c)], { cwd: join(ROOT, "bench"), env: distEnv(), stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-2_000)))
    child.on("error", reject)
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`import of ${c.modules.join(", ")} exited ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`))
      const r = JSON.parse(out) as { ms: number; cpuMs: number; rss: number; connectMs?: number; connectRss?: number }
      resolve({
        ms: r.ms,
        cpuMs: r.cpuMs,
        rssMiB: r.rss / MiB,
        ...(r.connectMs === undefined ? {} : { connectMs: r.connectMs, connectRssMiB: r.connectRss! / MiB }),
        n: 1,
      })
    })
  })

const PACKAGES = ["packages/core", "adapters/memory", "adapters/rabbitmq", "adapters/nats", "adapters/redis", "adapters/kafka"]

const newest = (dir: string, ext: string): number =>
  existsSync(dir) ? Math.max(0, ...readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(ext)).map((f) => statSync(join(dir, f)).mtimeMs)) : 0

/** The workload measures dist/: build it when it is missing or older than its sources. */
export const ensureBuilt = (log: (line: string) => void): void => {
  const stale = PACKAGES.filter((p) => {
    const built = newest(join(ROOT, p, "dist"), ".js")
    return built === 0 || newest(join(ROOT, p, "src"), ".ts") > built
  })
  if (stale.length === 0) return
  log(`import: dist/ missing or stale in ${stale.join(", ")}; building (pnpm -r run build)`)
  execFileSync("pnpm", ["-r", "run", "build"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] })
}
