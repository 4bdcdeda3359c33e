/**
 * A consumer in its own process, for the "consumer process killed mid-batch"
 * fault: forked by the fault suite, it imports the adapter, subscribes, tells
 * the parent about every message its handler starts, and never finishes a
 * handler (the parent SIGKILLs it with those messages unacked).
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, pattern, group, concurrency }.
 * Messages to the parent: { type: "ready" } | { type: "start", id, attempt } | { type: "error", message }.
 */
import { connect } from "@omnibus/core"

interface ChildConfig {
  readonly adapterModule: string
  readonly url: string
  readonly options: Record<string, unknown>
  readonly pattern: string
  readonly group: string
  readonly concurrency: number
}

const send = (m: unknown): void => {
  process.send?.(m)
}

const main = async (): Promise<void> => {
  const config = JSON.parse(process.env.OMNIBUS_FAULT_CHILD ?? "{}") as ChildConfig
  await import(config.adapterModule)
  const bus = await connect(config.url, config.options)
  await bus.subscribe(
    config.pattern,
    async (m) => {
      send({ type: "start", id: m.id, attempt: m.attempt })
      // mid-batch: never finishes; the parent kills the process
      await new Promise(() => undefined)
    },
    { group: config.group, concurrency: config.concurrency, prefetch: config.concurrency },
  )
  send({ type: "ready" })
}

main().catch((e: unknown) => {
  send({ type: "error", message: e instanceof Error ? `${(e as { _tag?: string })._tag ?? e.name}: ${e.message}` : String(e) })
})
// keep the event loop alive even if the adapter holds no handle
setInterval(() => undefined, 60_000)
