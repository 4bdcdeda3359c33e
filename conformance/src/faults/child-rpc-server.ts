/**
 * An RPC server in its own process, for the "RPC storm with a server killed"
 * fault: forked by the fault suite, it imports the adapter, serves one method
 * in a group and answers with its pid (so the parent knows who served what);
 * the parent SIGKILLs it mid-storm.
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, method, group, concurrency }.
 * Messages to the parent: { type: "ready" } | { type: "error", message }.
 */
import { connect } from "@omnibus/core"

interface ChildConfig {
  readonly adapterModule: string
  readonly url: string
  readonly options: Record<string, unknown>
  readonly method: string
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
  await bus.handle<{ readonly i: number }>(config.method, (r) => ({ i: r.payload.i, pid: process.pid }), { group: config.group, concurrency: config.concurrency })
  send({ type: "ready" })
}

main().catch((e: unknown) => {
  send({ type: "error", message: e instanceof Error ? `${(e as { _tag?: string })._tag ?? e.name}: ${e.message}` : String(e) })
})
// keep the event loop alive even if the adapter holds no handle
setInterval(() => undefined, 60_000)
