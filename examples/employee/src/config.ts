/**
 * Which brokers and which database the platform uses comes from a config file
 * (config/<name>.json) and the environment, never from code: EMPLOYEE_CONFIG
 * (or --config) picks the file, OMNIBUS_URL puts RPC and events on one broker,
 * DATABASE_URL puts every component's tables in one PostgreSQL database, and
 * the addresses inside the files come from OMNIBUS_<BROKER>_URL and
 * OMNIBUS_POSTGRES_URL with defaults. Without a database URL the components
 * keep SQLite files in the data directory.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const EXAMPLE_ROOT = fileURLToPath(new URL("..", import.meta.url))
const CONFIG_DIR = join(EXAMPLE_ROOT, "config")

export const DEFAULT_CONFIG = "all-memory"

export interface PlatformConfig {
  readonly name: string
  readonly description: string
  /** Broker for employee.search/create/update/destroy. */
  readonly rpcUrl: string
  /** Broker for employee.created/updated/destroyed. */
  readonly eventsUrl: string
  /** Web port (0 = any free port). */
  readonly port: number
  /** SQLite files of the service, the audit log and payroll (when databaseUrl is unset). */
  readonly dataDir: string
  /** PostgreSQL database (postgres://…) holding every component's tables; undefined = SQLite files in dataDir. */
  readonly databaseUrl: string | undefined
  /** How long the web app waits for the service. */
  readonly requestTimeoutMs: number
}

interface ConfigFile {
  readonly description?: unknown
  readonly rpcUrl?: unknown
  readonly eventsUrl?: unknown
  readonly databaseUrl?: unknown
  readonly port?: unknown
  readonly requestTimeoutMs?: unknown
}

export const configNames = (): Array<string> =>
  readdirSync(CONFIG_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort()

/** Replaces ${VAR} and ${VAR:-default} with the environment's values. */
export const interpolate = (text: string, env: NodeJS.ProcessEnv): string =>
  text.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (whole, name: string, fallback: string | undefined) => {
    const value = env[name]
    if (value !== undefined && value !== "") return value
    if (fallback !== undefined) return fallback
    throw new Error(`config needs the environment variable ${name} (${whole} has no default)`)
  })

const text = (file: string, key: string, v: unknown): string => {
  if (typeof v !== "string" || v.length === 0) throw new Error(`${file}: "${key}" must be a non-empty string`)
  return v
}

const integer = (what: string, v: unknown, fallback: number): number => {
  if (v === undefined || v === "") return fallback
  const n = typeof v === "number" ? v : Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer (got ${JSON.stringify(v)})`)
  return n
}

/** A PostgreSQL URL, or undefined (SQLite) when unset or empty. */
const databaseUrl = (what: string, v: string | undefined): string | undefined => {
  if (v === undefined || v === "") return undefined
  if (!/^postgres(ql)?:\/\//i.test(v)) throw new Error(`${what} must be a postgres:// URL, or unset for SQLite files (its scheme is ${JSON.stringify(v.split(":")[0])})`)
  return v
}

export interface ConfigOverrides {
  readonly port?: number | undefined
  readonly dataDir?: string | undefined
}

/** Loads config/<name>.json; `name` defaults to EMPLOYEE_CONFIG, then all-memory. */
export const loadConfig = (name?: string, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): PlatformConfig => {
  const chosen = name ?? (env["EMPLOYEE_CONFIG"] || DEFAULT_CONFIG)
  const known = configNames()
  if (!known.includes(chosen)) throw new Error(`unknown config "${chosen}" (known: ${known.join(", ")})`)
  const file = join(CONFIG_DIR, `${chosen}.json`)
  const raw = JSON.parse(readFileSync(file, "utf8")) as ConfigFile
  // OMNIBUS_URL moves the whole platform to one broker whatever the file says.
  const single = env["OMNIBUS_URL"]
  const rpcUrl = single || interpolate(text(file, "rpcUrl", raw.rpcUrl), env)
  const eventsUrl = single || interpolate(text(file, "eventsUrl", raw.eventsUrl), env)
  // DATABASE_URL likewise moves every component's tables into that database.
  const database = env["DATABASE_URL"]
    ? databaseUrl("DATABASE_URL", env["DATABASE_URL"])
    : raw.databaseUrl === undefined
      ? undefined
      : databaseUrl(`${file}: databaseUrl`, interpolate(text(file, "databaseUrl", raw.databaseUrl), env))
  return {
    name: chosen,
    description: typeof raw.description === "string" ? raw.description : chosen,
    rpcUrl,
    eventsUrl,
    port: overrides.port ?? integer("EMPLOYEE_PORT", env["EMPLOYEE_PORT"], integer(`${file}: port`, raw.port, 3002)),
    dataDir: resolve(overrides.dataDir ?? (env["EMPLOYEE_DATA_DIR"] || join(EXAMPLE_ROOT, ".data", chosen))),
    databaseUrl: database,
    requestTimeoutMs: integer(`${file}: requestTimeoutMs`, raw.requestTimeoutMs, 3000),
  }
}

/** The in-process memory broker cannot be shared between processes, so such a config runs in one. */
export const needsOneProcess = (config: PlatformConfig): boolean =>
  [config.rpcUrl, config.eventsUrl].some((u) => /^memory:/i.test(u))
