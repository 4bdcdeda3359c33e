/**
 * Publishing: batched routing. The batch is cut into chunks (at most
 * ROUTE_CHUNK_MESSAGES messages, ROUTE_CHUNK_BYTES of payload and
 * ROUTE_CHUNK_ARGS arguments, at least one message each), one ROUTE script
 * call per chunk, each written as soon as it is built, so the server routes
 * one chunk while this process encodes the next (with waitReplicas, all in one
 * pipeline ending with WAIT, which must follow them on their connection). The script reads
 * the bindings once per call, matches each distinct routing key of the chunk
 * once against every group's patterns, and XADDs each message to each matching
 * group stream; with a dedup window it first SETs NX a marker for the message
 * id, so a republish of the same id within the window is a no-op. It returns
 * one result per message (groups written, -1 for a dedup hit, or the error
 * text of that message alone), so every entry keeps its own outcome; as with
 * one call per message, a message whose XADD fails keeps the copies already
 * written to the groups before it. The chunk size bounds how long one call
 * holds the server (about 7 ms measured with every message fanning out to
 * ten groups with dedup; sizes 50–200 gave the same throughput).
 *
 * A server refusal of a whole call (OOM, NOPERM, BUSY…: nothing of the chunk
 * was written, since per-message failures are caught inside the script) sends
 * that chunk's messages again one per call, so a refusal that concerns one
 * entry fails that entry only (PublishFailed); those single calls run after
 * the rest of the batch. A publish cut by a connection loss is sent again
 * after the reconnect (safe with the dedup window: the marker makes a landed
 * first copy win), until the publish deadline; then the entry fails with
 * PublishFailed.
 */
import { PublishFailed } from "@omnibus/core"
import { cloudEventHeaders } from "@omnibus/core/adapter"
import type { CloudEventsSettings, Envelope } from "@omnibus/core/adapter"
import type { OnPublishOutcome, PublishOutcome } from "@omnibus/core/adapter"
import { describe, followCluster, isClusterTransient, whenReady } from "./connection.ts"
import type { Keys } from "./keys.ts"
import { toFields, type EntryLayout } from "./fields.ts"
import type { ScriptedRedis } from "./scripts.ts"

export interface PublisherOptions {
  readonly dedupWindowMs: number
  readonly publishTimeoutMs: number
  /** Entries also carry the HTTP binding's CloudEvents fields (undefined: off); they are then written flat. */
  readonly cloudEvents?: CloudEventsSettings | undefined
  /** How an entry carries its headers (fields.ts); "compact" unless set. */
  readonly layout?: EntryLayout
  /** Messages per routing call; ROUTE_CHUNK_MESSAGES unless set (bench-routing.ts compares sizes). */
  readonly chunkMessages?: number
  /** Confirm only once this many replicas acknowledged the writes (WAIT; 0 or unset: no wait). */
  readonly waitReplicas?: number
  /** How long one WAIT may block the connection, ms (a short count re-sends the entries). */
  readonly waitTimeoutMs?: number
}

/** Messages per routing call (see bench-routing.ts for the measurement behind it). */
export const ROUTE_CHUNK_MESSAGES = 100
/** Payload bytes per routing call: large messages go in smaller chunks. */
export const ROUTE_CHUNK_BYTES = 1 << 20
/** Arguments per routing call (messages with many headers go in smaller chunks). */
export const ROUTE_CHUNK_ARGS = 16_384

/** A reply error comes from the server (a refusal), unless a cluster is failing over; anything else is the connection. */
const isServerRefusal = (e: unknown): boolean => e instanceof Error && e.name === "ReplyError" && !isClusterTransient(e)

type Arg = string | Buffer | number

interface Chunk {
  /** Indexes into the batch, in order. */
  readonly entries: Array<number>
  /** ARGV after base and window: per message id, routing key, field count, fields. */
  readonly args: Array<Arg>
}

/** Cuts the entries (in batch order) into chunks, each handed to `send` once complete; an entry in `alone` gets a chunk of its own. */
const toChunks = (batch: ReadonlyArray<Envelope>, entries: ReadonlyArray<number>, alone: ReadonlySet<number>, maxMessages: number, options: PublisherOptions, send: (c: Chunk) => void): Array<Chunk> => {
  const chunks: Array<Chunk> = []
  const { cloudEvents } = options
  // CloudEvents' HTTP binding wants every header as a field of its own
  const layout = cloudEvents ? "flat" : (options.layout ?? "compact")
  let current: Chunk | undefined
  let bytes = 0
  for (const i of entries) {
    const e = batch[i]!
    const fields = toFields(e, layout, cloudEvents && cloudEventHeaders(e, "http", cloudEvents))
    const size = e.payload.byteLength
    const solo = alone.has(i)
    if (
      current === undefined || solo || alone.has(current.entries[0]!) ||
      current.entries.length >= maxMessages ||
      bytes + size > ROUTE_CHUNK_BYTES ||
      current.args.length + 3 + fields.length > ROUTE_CHUNK_ARGS
    ) {
      if (current) send(current)
      current = { entries: [], args: [] }
      chunks.push(current)
      bytes = 0
    }
    current.entries.push(i)
    current.args.push(e.id, e.routingKey, fields.length)
    for (const f of fields) current.args.push(f)
    bytes += size
  }
  if (current) send(current)
  return chunks
}

export const publishBatch = async (
  cmd: ScriptedRedis,
  keys: Keys,
  options: PublisherOptions,
  batch: ReadonlyArray<Envelope>,
  isOpen: () => boolean,
  onOutcome?: OnPublishOutcome,
): Promise<ReadonlyArray<PublishOutcome>> => {
  const outcomes: Array<PublishOutcome | undefined> = new Array(batch.length)
  const failed = (i: number, reason: string): void => {
    outcomes[i] = { ok: false, error: new PublishFailed({ key: batch[i]!.routingKey, reason }) }
  }
  // Sizes were checked by core before the batch was built (message.ts).
  let pending: Array<number> = batch.map((_, i) => i)
  /** Entries of a chunk the server refused as a whole: sent one per call from then on. */
  const alone = new Set<number>()
  const deadline = Date.now() + options.publishTimeoutMs
  let lastReason = "connection lost"
  while (pending.length > 0) {
    const remaining = deadline - Date.now()
    if (remaining <= 0 || !isOpen()) break
    const chunkMessages = Math.max(1, options.chunkMessages ?? ROUTE_CHUNK_MESSAGES)
    const waitFor = options.waitReplicas ?? 0
    let chunks: Array<Chunk>
    let sent: Promise<Array<[Error | null, unknown]> | null>
    if (waitFor > 0) {
      // WAIT on the same connection, after the scripts (on a cluster the pipeline goes to their slot's primary)
      const pipeline = cmd.pipeline() as unknown as ScriptedRedisPipeline
      chunks = toChunks(batch, pending, alone, chunkMessages, options, (c) => pipeline.omnibusRoute(keys.bindings, keys.base, options.dedupWindowMs, ...c.args))
      pipeline.call("WAIT", waitFor, Math.max(1, Math.min(options.waitTimeoutMs ?? 1_000, remaining)))
      sent = pipeline.exec()
    } else {
      const calls: Array<Promise<[Error | null, unknown]>> = []
      chunks = toChunks(batch, pending, alone, chunkMessages, options, (c) => {
        calls.push(cmd.omnibusRoute(keys.bindings, keys.base, options.dedupWindowMs, ...c.args).then(
          (r): [null, unknown] => {
            // Each chunk's written messages are confirmed as its call returns, ahead of the later chunks.
            if (onOutcome !== undefined && Array.isArray(r)) c.entries.forEach((i, k) => typeof r[k] === "number" && onOutcome(i, { ok: true }))
            return [null, r]
          },
          (e: unknown): [Error, undefined] => [e instanceof Error ? e : new Error(String(e)), undefined],
        ))
      })
      sent = Promise.all(calls)
    }
    let timer: NodeJS.Timeout | undefined
    const results = await Promise.race([
      sent,
      new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), remaining) }),
    ]).catch((e: unknown): undefined => {
      lastReason = describe(e)
      return undefined
    })
    clearTimeout(timer)
    if (!results) break
    const waited = waitFor > 0 ? results.pop() : undefined
    const short = waitFor > 0 ? shortOfReplicas(waited, waitFor) : undefined
    // WAIT itself refused (an ACL without it...): asking again would not help
    const waitRefused = waited?.[0] != null && isServerRefusal(waited[0])
    if (short !== undefined) lastReason = short
    const again: Array<number> = []
    let lost = false
    results.forEach(([error, reply], j) => {
      const c = chunks[j]!
      if (!error) {
        const items = Array.isArray(reply) ? (reply as Array<unknown>) : []
        c.entries.forEach((i, k) => {
          const r = items[k]
          if (typeof r === "number") {
            // not on enough replicas yet: sent again (a dedup hit then) and waited for again
            if (short === undefined) outcomes[i] = { ok: true }
            else if (waitRefused) failed(i, short)
            else again.push(i)
          } else failed(i, r === undefined ? "the routing script returned no result for this message" : describe(String(r)))
        })
      } else if (isServerRefusal(error)) {
        if (c.entries.length === 1) failed(c.entries[0]!, describe(error))
        else for (const i of c.entries) {
          alone.add(i)
          again.push(i)
        }
      } else {
        lastReason = describe(error)
        lost = true
        for (const i of c.entries) again.push(i)
      }
    })
    pending = again.sort((a, b) => a - b)
    if (lost) {
      await followCluster(cmd, Math.max(0, deadline - Date.now()))
      await whenReady(cmd, Math.max(0, deadline - Date.now()))
    }
  }
  // Array.from, not map: map skips the holes of the entries that got no outcome
  return Array.from(outcomes, (o, i) => o ?? { ok: false, error: new PublishFailed({ key: batch[i]!.routingKey, reason: isOpen() ? lastReason : "transport closed before the broker confirmed" }) })
}

/** Why a WAIT reply does not confirm the writes before it; undefined when it does. */
const shortOfReplicas = (reply: [Error | null, unknown] | undefined, wanted: number): string | undefined => {
  if (reply === undefined) return "no reply to WAIT"
  const [error, count] = reply
  if (error) return `WAIT failed: ${describe(error)}`
  const n = Number(count)
  return n >= wanted ? undefined : `written on the primary, acknowledged by ${n} of the ${wanted} replicas asked for (waitReplicas)`
}

interface ScriptedRedisPipeline {
  omnibusRoute(...args: Array<Arg>): unknown
  call(...args: Array<Arg>): unknown
  exec(): Promise<Array<[Error | null, unknown]> | null>
}
