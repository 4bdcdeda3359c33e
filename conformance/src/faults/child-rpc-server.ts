/**
 * An RPC server in its own process, for the "RPC storm with a server killed"
 * fault: forked by the fault suite, it serves one method in a group and
 * answers with its pid (so the parent knows who served what); the parent
 * SIGKILLs it mid-storm.
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, method, group, concurrency }.
 * Messages to the parent: { type: "ready" } | { type: "error", message }.
 */
import { runChild, type ChildBase } from "./child-runtime.ts"

interface ChildConfig extends ChildBase {
  readonly method: string
  readonly group: string
  readonly concurrency: number
}

runChild<ChildConfig>((bus, config) =>
  bus.handle<{ readonly i: number }>(config.method, (r) => ({ i: r.payload.i, pid: process.pid }), { group: config.group, concurrency: config.concurrency }),
)
