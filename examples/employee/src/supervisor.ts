/**
 * Runs each component in its own process (for brokers that live outside
 * this process): service, audit logger, two payroll instances, then the web
 * app once the subscribers' groups exist. If any process dies, everything
 * stops and the command fails; Ctrl-C/SIGTERM stops everything cleanly.
 */
import { fork, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { tracingArgument, type PlatformConfig } from "./config.ts"

// Generous: joining a consumer group that still lists members of a crashed run waits out their session (Kafka).
const READY_DEADLINE_MS = 120_000
// Each component gets 10 s to close before it is killed; its own close deadline is shorter (main.ts).
const STOP_DEADLINE_MS = 10_000

interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
}

interface ReadyMessage {
  readonly ready: true
  readonly url?: string
}

const isReady = (m: unknown): m is ReadyMessage => typeof m === "object" && m !== null && "ready" in m && m.ready === true

export const superviseProcesses = async (config: PlatformConfig, main: URL): Promise<void> => {
  const children: Array<Child> = []
  let stopping = false

  const stopChild = async (child: Child): Promise<void> => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return
    child.process.kill("SIGTERM")
    const timer = setTimeout(() => {
      console.error(`[supervisor] ${child.name} did not stop within ${STOP_DEADLINE_MS} ms; killing it`)
      child.process.kill("SIGKILL")
    }, STOP_DEADLINE_MS)
    await child.exited
    clearTimeout(timer)
  }

  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true
      // Web first (no new requests), then the subscribers and the service together.
      const web = children.filter((c) => c.name === "web")
      await Promise.all(web.map(stopChild))
      await Promise.all(children.filter((c) => c.name !== "web").map(stopChild))
      process.exit(code)
    }
    return new Promise<never>(() => {})
  }
  process.on("SIGINT", () => void stopAll(0))
  process.on("SIGTERM", () => void stopAll(0))

  const execArgv = process.execArgv.includes("--disable-warning=ExperimentalWarning") ? process.execArgv : [...process.execArgv, "--disable-warning=ExperimentalWarning"]

  const start = (role: string, instance = "1"): Promise<ReadyMessage> => {
    const name = role === "payroll" ? `payroll-${instance}` : role
    const args = ["--config", config.name, "--port", String(config.port), "--data-dir", config.dataDir, "--tracing", tracingArgument(config.tracing), "--role", role, "--instance", instance]
    const child = fork(fileURLToPath(main), args, { execArgv, stdio: ["inherit", "inherit", "inherit", "ipc"] })
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    children.push({ name, process: child, exited })
    console.log(`[supervisor] started ${name} (pid ${child.pid})`)
    void exited.then((code) => {
      if (stopping) return
      console.error(`[supervisor] ${name} exited (code ${code}); stopping the platform`)
      void stopAll(1)
    })
    return new Promise<ReadyMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_DEADLINE_MS} ms`)), READY_DEADLINE_MS)
      child.on("message", (m) => {
        if (!isReady(m)) return
        clearTimeout(timer)
        resolve(m)
      })
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`${name} exited before it was ready`))
      })
    })
  }

  console.log(`Employee platform (${config.name}), one process per component: ${config.description}`)
  try {
    await start("service")
    await Promise.all([start("audit"), start("payroll", "1"), start("payroll", "2")])
    const web = await start("web")
    console.log(`Employee platform (${config.name}) is up: ${web.url ?? "(web app has no URL)"}`)
  } catch (e) {
    console.error(`[supervisor] ${e instanceof Error ? e.message : String(e)}`)
    await stopAll(1)
  }
}
