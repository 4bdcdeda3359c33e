/**
 * The bench's side of bench/src/runner.ts: a process per contender, started on its first run and
 * kept for the broker's workloads, so each contender's code stays warm in its own V8 (runner.ts
 * says why). A run that outlives its hard timeout kills its runner; the next run starts a new one.
 */
import type { ChildProcess } from "node:child_process"
import type { Sizes } from "./config.ts"
import { forkOnDist } from "./env.ts"
import type { RunRequest, RunnerMessage, RunnerSpec } from "./runner.ts"
import type { Broker } from "./types.ts"
import type { Measurement, Workload } from "./workloads.ts"

export type RunOutcome = Measurement | { readonly error: string } | "timeout"

interface Runner {
  readonly child: ChildProcess
  readonly ready: Promise<void>
  readonly pending: Map<number, (o: RunOutcome) => void>
  stderr: string
}

/** What a crashed runner printed last that names an error (Node ends with its version and the throw site). */
const lastError = (stderr: string): string => {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean)
  return lines.findLast((l) => /error|exception|reject/i.test(l)) ?? lines.slice(-3).join(" | ")
}

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

const RUNNER = new URL("./runner.ts", import.meta.url)

export class Runners {
  private readonly runners = new Map<string, Runner>()
  private nextId = 0

  private readonly broker: Broker
  private readonly url: string
  private readonly sizes: Sizes
  private readonly log: (line: string) => void

  constructor(broker: Broker, url: string, sizes: Sizes, log: (line: string) => void) {
    this.broker = broker
    this.url = url
    this.sizes = sizes
    this.log = log
  }

  private start(contender: string): Runner {
    const spec: RunnerSpec = { broker: this.broker, url: this.url, contender, sizes: this.sizes }
    // Omnibus from dist/ (main.ts builds it), the raw clients' plain .js beside it.
    const child = forkOnDist(RUNNER, { BENCH_RUNNER: JSON.stringify(spec) }, ["ignore", "inherit", "pipe", "ipc"])
    let ready!: () => void
    const runner: Runner = { child, ready: new Promise<void>((r) => (ready = r)), pending: new Map(), stderr: "" }
    child.stderr?.on("data", (d: Buffer) => (runner.stderr = (runner.stderr + d.toString()).slice(-2_000)))
    child.on("message", (m: RunnerMessage) => {
      if ("ready" in m) ready()
      else if ("log" in m) this.log(m.log)
      else {
        runner.pending.get(m.id)?.("error" in m ? { error: m.error } : m.result)
        runner.pending.delete(m.id)
      }
    })
    child.on("exit", (code, signal) => {
      const error = `runner of ${contender} exited (${signal ?? code}): ${lastError(runner.stderr)}`
      for (const settle of runner.pending.values()) settle({ error })
      runner.pending.clear()
      ready()
      if (this.runners.get(contender) === runner) this.runners.delete(contender)
    })
    this.runners.set(contender, runner)
    return runner
  }

  /** Runs one workload in the contender's process; "timeout" after `ms` (the runner is then killed). */
  async run(contender: string, workload: Workload, ns: string, backlog: number | undefined, ms: number): Promise<RunOutcome> {
    const runner = this.runners.get(contender) ?? this.start(contender)
    await runner.ready
    if (exited(runner.child)) return { error: `runner of ${contender} did not start: ${lastError(runner.stderr)}` }
    const id = ++this.nextId
    let timer: NodeJS.Timeout | undefined
    const outcome = new Promise<RunOutcome>((resolve) => {
      runner.pending.set(id, resolve)
      timer = setTimeout(() => {
        runner.pending.delete(id)
        runner.child.kill("SIGKILL")
        resolve("timeout")
      }, ms)
    })
    const request: RunRequest = { id, workload, ns, backlog }
    runner.child.send(request)
    return outcome.finally(() => clearTimeout(timer))
  }

  /** Ends every runner: a runner exits when the bench disconnects (runner.ts); each run has closed its sessions by then. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.runners.values()].map(
        (r) =>
          new Promise<void>((resolve) => {
            if (exited(r.child)) return resolve()
            const kill = setTimeout(() => r.child.kill("SIGKILL"), 15_000)
            r.child.once("exit", () => {
              clearTimeout(kill)
              resolve()
            })
            r.child.disconnect()
          }),
      ),
    )
    this.runners.clear()
  }
}
