/**
 * What every child process of the fault suite does around its own part:
 * read its config from env OMNIBUS_FAULT_CHILD (JSON with at least
 * { adapterModule, url, options }), import the adapter, connect, let the
 * child set up its subscription or server, then tell the parent "ready"
 * (or "error"), and stay alive until the parent kills it. `busOptions` adds
 * what JSON cannot carry (middleware made in the child).
 */
import { connect, type Bus, type BusOptions } from "@omnibus/core"

export interface ChildBase {
  readonly adapterModule: string
  readonly url: string
  readonly options: Record<string, unknown>
}

export const sendToParent = (m: unknown): void => {
  process.send?.(m)
}

export const runChild = <C extends ChildBase>(setup: (bus: Bus, config: C) => Promise<unknown>, busOptions: BusOptions = {}): void => {
  const main = async (): Promise<void> => {
    const config = JSON.parse(process.env.OMNIBUS_FAULT_CHILD ?? "{}") as C
    await import(config.adapterModule)
    const bus = await connect(config.url, { ...config.options, ...busOptions })
    await setup(bus, config)
    sendToParent({ type: "ready" })
  }
  main().catch((e: unknown) => {
    sendToParent({ type: "error", message: e instanceof Error ? `${(e as { _tag?: string })._tag ?? e.name}: ${e.message}` : String(e) })
  })
  // keep the event loop alive even if the adapter holds no handle
  setInterval(() => undefined, 60_000)
}
