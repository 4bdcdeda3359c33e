/**
 * Starts the platform exactly as users do (`node src/main.ts --config NAME`)
 * in a child process, on a free port and a fresh data directory (and, on
 * PostgreSQL, a fresh schema), and waits for its "is up" line.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EXAMPLE_ROOT, loadConfig } from "../../src/config.ts"
import { createSchema, type TestSchema } from "./postgres.ts"

export interface RunningPlatform {
  readonly config: string
  readonly url: string
  readonly dataDir: string
  /** The PostgreSQL database (a schema of the test database) when the platform runs on one. */
  readonly databaseUrl: string | undefined
  /** Everything the platform printed so far. */
  output(): string
  stop(): Promise<void>
}

const UP = /is up: (http:\/\/\S+)/

export interface PlatformOptions {
  readonly timeoutMs?: number
  readonly env?: NodeJS.ProcessEnv
  /** Every component's tables in PostgreSQL through DATABASE_URL, whatever the config says (else as the config says). */
  readonly postgres?: boolean
}

export const startPlatform = async (config: string, options: PlatformOptions = {}): Promise<RunningPlatform> => {
  // A config naming a database takes its address from OMNIBUS_POSTGRES_URL (config/*.json): point that at a fresh schema.
  const configured = loadConfig(config, {}, {}).databaseUrl !== undefined
  const schema: TestSchema | undefined = options.postgres === true || configured ? await createSchema() : undefined
  const database = schema === undefined ? {} : options.postgres === true ? { DATABASE_URL: schema.url } : { OMNIBUS_POSTGRES_URL: schema.url }
  // DATABASE_URL from the test's own environment must not move a SQLite config elsewhere.
  const env = { ...process.env, DATABASE_URL: "", ...database, ...options.env }
  const dataDir = mkdtempSync(join(tmpdir(), `employee-${config}-`))
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "src/main.ts", "--config", config, "--port", "0", "--data-dir", dataDir], {
    cwd: EXAMPLE_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stdout.setEncoding("utf8").on("data", (s: string) => (output += s))
  child.stderr.setEncoding("utf8").on("data", (s: string) => (output += s))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const timeoutMs = options.timeoutMs ?? 180_000

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`config ${config} did not come up within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const check = () => {
      const m = UP.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout.on("data", check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`config ${config} exited with code ${code} before it was up:\n${output}`))
    })
  }).catch(async (e: unknown) => {
    await exited
    rmSync(dataDir, { recursive: true, force: true })
    await schema?.drop()
    throw e
  })

  return {
    config,
    url,
    dataDir,
    databaseUrl: loadConfig(config, {}, env).databaseUrl,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM")
        // The supervisor itself kills components that do not stop within 10 s.
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dataDir, { recursive: true, force: true })
      await schema?.drop()
    },
  }
}
