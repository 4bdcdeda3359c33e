/** Switching brokers or the database is a config or env change only. */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { configNames, EXAMPLE_ROOT, loadConfig, needsOneProcess } from "../src/config.ts"

describe("config", () => {
  it("ships the book's topology, one config per broker, and all-memory as the default", () => {
    expect(configNames()).toEqual(["all-kafka", "all-memory", "all-nats", "all-rabbitmq", "all-rabbitmq-postgres", "all-redis", "book"])
    const def = loadConfig(undefined, {}, {})
    expect(def.name).toBe("all-memory")
    expect(needsOneProcess(def)).toBe(true)
    expect(def.port).toBe(3002)
  })

  it("book: RPC over NATS, events over RabbitMQ, addresses from the environment with defaults", () => {
    const book = loadConfig("book", {}, {})
    expect(book.rpcUrl).toBe("nats://127.0.0.1:4222")
    expect(book.eventsUrl).toBe("amqp://guest:guest@127.0.0.1:5672")
    expect(needsOneProcess(book)).toBe(false)
    const env = { OMNIBUS_NATS_URL: "nats://nats.internal:4222", OMNIBUS_RABBITMQ_URL: "amqp://u:p@mq.internal" }
    expect(loadConfig("book", {}, env)).toMatchObject({ rpcUrl: env.OMNIBUS_NATS_URL, eventsUrl: env.OMNIBUS_RABBITMQ_URL })
  })

  it("EMPLOYEE_CONFIG picks the file and OMNIBUS_URL puts everything on one broker", () => {
    expect(loadConfig(undefined, {}, { EMPLOYEE_CONFIG: "all-redis" }).eventsUrl).toBe("redis://127.0.0.1:6379")
    expect(loadConfig("book", {}, { OMNIBUS_URL: "kafka://k:9092" })).toMatchObject({ rpcUrl: "kafka://k:9092", eventsUrl: "kafka://k:9092" })
    expect(loadConfig(undefined, {}, { EMPLOYEE_PORT: "4000", EMPLOYEE_DATA_DIR: "/tmp/x" })).toMatchObject({ port: 4000, dataDir: "/tmp/x" })
  })

  it("keeps SQLite files by default; a config's databaseUrl or DATABASE_URL moves every table to PostgreSQL", () => {
    expect(loadConfig("all-rabbitmq", {}, {}).databaseUrl).toBeUndefined()
    expect(loadConfig("all-rabbitmq-postgres", {}, {})).toMatchObject({ rpcUrl: "amqp://guest:guest@127.0.0.1:5672", databaseUrl: "postgres://postgres@127.0.0.1:5432/test" })
    expect(loadConfig("all-rabbitmq-postgres", {}, { OMNIBUS_POSTGRES_URL: "postgres://app@db.internal/employees" }).databaseUrl).toBe("postgres://app@db.internal/employees")
    expect(loadConfig(undefined, {}, { DATABASE_URL: "postgresql://app@db/hr" }).databaseUrl).toBe("postgresql://app@db/hr")
    expect(loadConfig("all-rabbitmq-postgres", {}, { DATABASE_URL: "postgres://app@other/hr" }).databaseUrl).toBe("postgres://app@other/hr")
    expect(() => loadConfig(undefined, {}, { DATABASE_URL: "mysql://root:secret@db/hr" })).toThrow(/DATABASE_URL must be a postgres:\/\/ URL.*"mysql"/)
    expect(() => loadConfig(undefined, {}, { DATABASE_URL: "mysql://root:secret@db/hr" })).not.toThrow(/secret/)
  })

  it("names an unknown config and a bad port instead of guessing", () => {
    expect(() => loadConfig("all-mqtt", {}, {})).toThrow(/unknown config "all-mqtt" \(known: all-kafka, /)
    expect(() => loadConfig(undefined, {}, { EMPLOYEE_PORT: "web" })).toThrow(/EMPLOYEE_PORT/)
  })

  it("no code path names a broker: the adapters come from the URL scheme alone", () => {
    const files = (dir: string): Array<string> =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []))
    for (const file of files(join(EXAMPLE_ROOT, "src"))) {
      // Code only: comments may explain the topology.
      const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "")
      expect(code, file).not.toMatch(/@omnibus\/(rabbitmq|nats|kafka|redis)|\b(amqps?|nats|kafka|rediss?):\/\//i)
    }
  })
})
