/**
 * A consumer in its own process, for the "consumer process killed mid-batch"
 * fault: forked by the fault suite, it subscribes, tells the parent about
 * every message its handler starts, and never finishes a handler (the parent
 * SIGKILLs it with those messages unacked).
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, pattern, group, concurrency }.
 * Messages to the parent: { type: "ready" } | { type: "start", id, attempt } | { type: "error", message }.
 */
import { runChild, sendToParent, type ChildBase } from "./child-runtime.ts"

interface ChildConfig extends ChildBase {
  readonly pattern: string
  readonly group: string
  readonly concurrency: number
}

runChild<ChildConfig>((bus, config) =>
  bus.subscribe(
    config.pattern,
    async (m) => {
      sendToParent({ type: "start", id: m.id, attempt: m.attempt })
      // mid-batch: never finishes; the parent kills the process
      await new Promise(() => undefined)
    },
    { group: config.group, concurrency: config.concurrency, prefetch: config.concurrency },
  ),
)
