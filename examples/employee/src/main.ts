/**
 * One command for the whole employee platform on the config you choose:
 *
 *   node src/main.ts                       all-memory: everything in this process (the memory broker is in-process)
 *   node src/main.ts --config book         RPC over NATS, events over RabbitMQ: one process per component
 *   EMPLOYEE_CONFIG=all-redis node src/main.ts     (or OMNIBUS_URL=amqp://… to put everything on one broker)
 *   DATABASE_URL=postgres://… node src/main.ts     every component's tables in PostgreSQL instead of SQLite files
 *
 * Options: --config NAME, --port N (0 = any free port), --data-dir DIR,
 * --role service|web|audit|payroll (run one component; --instance N names a payroll instance).
 * Prints the web URL when everything is up; Ctrl-C or SIGTERM stops everything.
 */
import { parseArgs } from "node:util"
import type { Component, Log } from "./component.ts"
import { EXAMPLE_ROOT, loadConfig, needsOneProcess, type PlatformConfig } from "./config.ts"
import { startService } from "./service/index.ts"
import { startAudit } from "./subscribers/audit.ts"
import { startPayroll } from "./subscribers/payroll.ts"
import { superviseProcesses } from "./supervisor.ts"
import { startWeb } from "./web/server.ts"

const { values } = parseArgs({
  options: {
    config: { type: "string" },
    port: { type: "string" },
    "data-dir": { type: "string" },
    role: { type: "string" },
    instance: { type: "string", default: "1" },
  },
})

const logger = (name: string): Log => (line) => console.log(`[${name}] ${line}`)

const ROLES = ["service", "web", "audit", "payroll"] as const
type Role = (typeof ROLES)[number]
const isRole = (s: string): s is Role => (ROLES as ReadonlyArray<string>).includes(s)

/** Starts one component; resolves with it and, for the web app, its URL. */
const startRole = async (config: PlatformConfig, role: Role, instance: string): Promise<{ readonly component: Component; readonly url?: string }> => {
  switch (role) {
    case "service":
      return { component: await startService(config, logger("service")) }
    case "audit":
      return { component: await startAudit(config, logger("audit")) }
    case "payroll":
      return { component: await startPayroll(config, `payroll-${instance}`, logger(`payroll-${instance}`)) }
    case "web": {
      const web = await startWeb(config, logger("web"))
      return { component: web, url: web.url }
    }
  }
}

/** A close that hangs (a broker that stopped answering) must not keep the process alive forever. */
const CLOSE_DEADLINE_MS = 8_000

/** Closes components once, newest first, on the first SIGINT/SIGTERM. */
const stopOnSignal = (components: Array<Component>): void => {
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    const deadline = setTimeout(() => {
      console.error(`could not close within ${CLOSE_DEADLINE_MS} ms; exiting anyway`)
      process.exit(1)
    }, CLOSE_DEADLINE_MS)
    for (const c of [...components].reverse()) await c.close().catch((e: unknown) => console.error(e))
    clearTimeout(deadline)
    process.exit(0)
  }
  process.on("SIGINT", () => void stop())
  process.on("SIGTERM", () => void stop())
  // A supervised child also stops when its supervisor goes away.
  process.on("disconnect", () => void stop())
}

const portNumber = (text: string): number => {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be a port number (got ${JSON.stringify(text)})`)
  return n
}

const main = async (): Promise<void> => {
  const config = loadConfig(values.config, {
    port: values.port === undefined ? undefined : portNumber(values.port),
    dataDir: values["data-dir"],
  })
  // Core finds adapter packages (picked by URL scheme) from the working directory's package.json: make that the
  // example's, whichever directory the command was started from (paths above are already resolved).
  process.chdir(EXAMPLE_ROOT)
  const role = values.role
  if (role !== undefined) {
    if (!isRole(role)) throw new Error(`unknown --role ${role} (one of ${ROLES.join(", ")})`)
    const components: Array<Component> = []
    stopOnSignal(components)
    const started = await startRole(config, role, values.instance)
    components.push(started.component)
    process.send?.({ ready: true, url: started.url })
    return
  }
  if (!needsOneProcess(config)) {
    await superviseProcesses(config, new URL(import.meta.url))
    return
  }
  // In one process: subscribers before the web app, so no event is published before its groups exist.
  console.log(`Employee platform (${config.name}): ${config.description}`)
  const components: Array<Component> = []
  stopOnSignal(components)
  for (const [role, instance] of [["service", "1"], ["audit", "1"], ["payroll", "1"], ["payroll", "2"], ["web", "1"]] as const) {
    const started = await startRole(config, role, instance)
    components.push(started.component)
    if (started.url !== undefined) console.log(`Employee platform (${config.name}) is up: ${started.url}`)
  }
}

main().catch((e: unknown) => {
  console.error(`employee platform failed to start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
