/**
 * Cluster nodes driven by a launcher script with the commands of
 * scripts/clusters/common.sh: `bash <script> kill N` and `bash <script> restart N`
 * (N from 1), each returning once the node is gone or serving again, and, for a
 * launcher that runs its nodes in network namespaces, `partition N` and `heal N`.
 */
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import type { ClusterNode } from "./harness.ts"

const run = promisify(execFile)

/** Runs a command of the script (e.g. `ctl 1 list_queues name leader`) and returns its output. */
export const runScript = async (file: string, ...args: ReadonlyArray<string>): Promise<string> => {
  try {
    return (await run("bash", [file, ...args], { timeout: 180_000 })).stdout
  } catch (e) {
    const err = e as { stderr?: string; message?: string }
    throw new Error(`bash ${file} ${args.join(" ")} failed: ${(err.stderr ?? err.message ?? String(e)).trim().split("\n").slice(-5).join(" | ")}`)
  }
}

/** One node per name, in order: the first is the script's node 1. `partitions`: the launcher has `partition N` and `heal N`. */
export const scriptNodes = (file: string, names: ReadonlyArray<string>, options: { readonly partitions?: boolean } = {}): Array<ClusterNode> =>
  names.map((name, i) => ({
    name,
    kill: async () => { await runScript(file, "kill", String(i + 1)) },
    restart: async () => { await runScript(file, "restart", String(i + 1)) },
    ...(options.partitions === true
      ? {
          isolate: async () => { await runScript(file, "partition", String(i + 1)) },
          heal: async () => { await runScript(file, "heal", String(i + 1)) },
        }
      : {}),
  }))
