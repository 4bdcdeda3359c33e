/**
 * The parent side of the fault suite's child processes (child-runtime.ts is
 * the child side): forks a sibling module with its config, tracks its
 * "ready"/"error" messages, and kills it when the case ends.
 */
import { fork, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { FaultContext } from "./context.ts"

export interface ChildMessage {
  readonly type: string
  readonly message?: string
  readonly [field: string]: unknown
}

export interface ForkedChild {
  readonly process: ChildProcess
  readonly exited: Promise<void>
  readonly ready: boolean
  readonly error: string | undefined
}

/** `name` is a module next to this one: .ts in the workspace, .js in dist/. */
export const forkChild = (ctx: Pick<FaultContext, "defer">, name: string, config: Readonly<Record<string, unknown>>, onMessage?: (m: ChildMessage) => void): ForkedChild => {
  const file = fileURLToPath(new URL(`./${name}${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url))
  const child = fork(file, [], {
    execArgv: ["--disable-warning=ExperimentalWarning"],
    env: { ...process.env, OMNIBUS_FAULT_CHILD: JSON.stringify(config) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  })
  const state = { process: child, exited: new Promise<void>((r) => child.once("exit", () => r())), ready: false, error: undefined as string | undefined }
  child.on("message", (m: ChildMessage) => {
    if (m.type === "ready") state.ready = true
    else if (m.type === "error") state.error = m.message
    onMessage?.(m)
  })
  ctx.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await state.exited
  })
  return state
}
