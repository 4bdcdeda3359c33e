/**
 * Publishing: one ROUTE script call per message, the whole batch in one
 * pipeline (one round trip). The script matches the routing key against every
 * group's bindings and XADDs to each matching group stream atomically; with a
 * dedup window it first SETs NX a marker for the message id, so a republish of
 * the same id within the window is a no-op.
 *
 * A publish cut by a connection loss is sent again after the reconnect (safe
 * with the dedup window: the marker makes a landed first copy win), until the
 * publish deadline; then the entry fails with PublishFailed.
 */
import { PayloadTooLarge, PublishFailed } from "@omnibus/core"
import type { Envelope } from "@omnibus/core"
import type { PublishOutcome } from "@omnibus/core/transport"
import { describe, whenReady } from "./connection.ts"
import type { Keys } from "./keys.ts"
import { toFields } from "./fields.ts"
import type { ScriptedRedis } from "./scripts.ts"

export interface PublisherOptions {
  readonly maxPayloadBytes: number
  readonly dedupWindowMs: number
  readonly publishTimeoutMs: number
}

/** A reply error comes from the server (a refusal); anything else is the connection. */
const isServerRefusal = (e: unknown): boolean => e instanceof Error && e.name === "ReplyError"

export const publishBatch = async (
  cmd: ScriptedRedis,
  keys: Keys,
  options: PublisherOptions,
  batch: ReadonlyArray<Envelope>,
  isOpen: () => boolean,
): Promise<ReadonlyArray<PublishOutcome>> => {
  const outcomes: Array<PublishOutcome | undefined> = new Array(batch.length)
  let pending: Array<number> = []
  batch.forEach((e, i) => {
    if (e.payload.byteLength > options.maxPayloadBytes) {
      outcomes[i] = { ok: false, error: new PayloadTooLarge({ key: e.routingKey, size: e.payload.byteLength, max: options.maxPayloadBytes }) }
    } else {
      pending.push(i)
    }
  })
  const deadline = Date.now() + options.publishTimeoutMs
  let lastReason = "connection lost"
  while (pending.length > 0) {
    const remaining = deadline - Date.now()
    if (remaining <= 0 || !isOpen()) break
    const pipeline = cmd.pipeline() as unknown as ScriptedRedisPipeline
    for (const i of pending) {
      const e = batch[i]!
      pipeline.omnibusRoute(keys.bindings, keys.base, e.routingKey, options.dedupWindowMs, e.id, ...toFields(e))
    }
    let timer: NodeJS.Timeout | undefined
    const results = await Promise.race([
      pipeline.exec(),
      new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), remaining) }),
    ]).catch((e: unknown): undefined => {
      lastReason = describe(e)
      return undefined
    })
    clearTimeout(timer)
    if (!results) break
    const again: Array<number> = []
    results.forEach(([error], j) => {
      const i = pending[j]!
      if (!error) outcomes[i] = { ok: true }
      else if (isServerRefusal(error)) outcomes[i] = { ok: false, error: new PublishFailed({ key: batch[i]!.routingKey, reason: describe(error) }) }
      else {
        lastReason = describe(error)
        again.push(i)
      }
    })
    pending = again
    if (pending.length > 0) await whenReady(cmd, Math.max(0, deadline - Date.now()))
  }
  return outcomes.map((o, i) => o ?? { ok: false, error: new PublishFailed({ key: batch[i]!.routingKey, reason: isOpen() ? lastReason : "transport closed before the broker confirmed" }) })
}

interface ScriptedRedisPipeline {
  omnibusRoute(...args: Array<string | Buffer | number>): unknown
  exec(): Promise<Array<[Error | null, unknown]> | null>
}
