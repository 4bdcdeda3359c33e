/**
 * One contender's workloads, in a process of its own for the whole broker (bench/src/main.ts
 * starts one per contender and sends it one run at a time over IPC).
 *
 * Why not in the bench's process: contenders share client libraries (Omnibus's RabbitMQ adapter,
 * amqplib-ids and Moleculer all run amqplib; Omnibus and the ioredis contenders ioredis), and
 * V8 optimizes a library's functions for the shapes of whoever called them first. In one process
 * each contender ran on code another one had trained (bench/FINDINGS.md, "Each contender in a
 * process of its own"). Here a contender's process keeps its own warm code across repetitions and
 * workloads, as a user's service does. Omnibus loads from dist/ (env.ts distEnv), as users load it.
 */
import { load } from "./clients/index.ts"
import type { Sizes } from "./config.ts"
import type { Broker } from "./types.ts"
import { describeError, runWorkload, type Measurement, type Workload } from "./workloads.ts"

export interface RunnerSpec {
  readonly broker: Broker
  readonly url: string
  readonly contender: string
  readonly sizes: Sizes
}

/** Parent → runner: one run. */
export interface RunRequest {
  readonly id: number
  readonly workload: Workload
  readonly ns: string
  readonly backlog?: number
}

/** Runner → parent: ready (contender loaded), a log line, or the outcome of run `id`. */
export type RunnerMessage =
  | { readonly ready: true }
  | { readonly log: string }
  | { readonly id: number; readonly result: Measurement }
  | { readonly id: number; readonly error: string }

const spec = JSON.parse(process.env.BENCH_RUNNER ?? "{}") as RunnerSpec
const send = (m: RunnerMessage): Promise<void> => new Promise((r) => process.send!(m, () => r()))

const contender = await load(spec.broker, spec.url, spec.contender)
process.on("message", (m: RunRequest) => {
  const ctx = { broker: spec.broker, url: spec.url, sizes: spec.sizes, ns: m.ns, log: (line: string) => void send({ log: line }) }
  runWorkload(m.workload, contender, ctx, m.backlog).then(
    (result) => send({ id: m.id, result }),
    (e: unknown) => send({ id: m.id, error: describeError(e) }),
  )
})
// The parent disconnecting (its run is over, or it died) ends this process.
process.on("disconnect", () => process.exit(0))
await send({ ready: true })
