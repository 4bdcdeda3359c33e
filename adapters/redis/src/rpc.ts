/**
 * RPC over lists.
 * - Requests: RPUSH to the method's list (`rpc:q:<method>`); the servers of the
 *   method pop it (BLMPOP, as many as they have free slots) on dedicated
 *   connections, so they share the requests. Requests to one method issued
 *   while a send is on the way go out together in the next RPC_SEND call.
 * - Live servers: a sorted set per method (`rpc:s:<method>`, server id -> lease
 *   expiry on the server clock), refreshed by heartbeat. The RPC_SEND script
 *   drops expired servers and refuses to enqueue when none is left: the
 *   requester gets NoResponders in one round trip.
 * - Replies: RPUSH to the requester's own list (`rpc:r:<transport id>`, with
 *   a TTL), read by one BLMPOP loop per transport and matched by correlation
 *   id; a reply for a request no longer waiting is dropped. A server's replies
 *   issued while one RPC_REPLY call is on the way go out together in the next.
 * A request carries its deadline; servers skip requests already expired.
 */
import { randomUUID } from "node:crypto"
import { BusClosed, NoResponders, PublishFailed } from "@omnibus/core"
import type { Envelope } from "@omnibus/core/adapter"
import type { Consumption, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import { Batcher } from "./batcher.ts"
import { describe } from "./connection.ts"
import { afterThisTurn, Signal, sleep, trackClientId, unblock, type AdapterContext } from "./context.ts"
import { decodeFrame, encodeFrame } from "./fields.ts"

const REPLY_TTL_MS = 60_000
const BLOCK_SECONDS = 1
/** Replies read per BLMPOP, and requests or replies per coalesced send (Lua's unpack() stops at ~8000 arguments). */
const RPC_BATCH = 1_000

type Popped = [key: Buffer, elements: Array<Buffer>] | null

/** Pops up to `count` elements from the head of `list`, blocking until one is there or BLOCK_SECONDS passed. */
const popMany = (blocker: Redis, list: string, count: number): Promise<Popped> =>
  blocker.callBuffer("BLMPOP", BLOCK_SECONDS, 1, list, "LEFT", "COUNT", count) as Promise<Popped>

interface Reply {
  readonly replyTo: string
  readonly frame: Buffer
}

export interface RpcTiming {
  /** Heartbeat period of a server; its lease is 3 periods. */
  readonly heartbeatMs: number
}

export class RpcServer implements Consumption {
  private readonly ctx: AdapterContext
  private readonly spec: ServeSpec
  private readonly onRequest: (request: IncomingRequest) => void
  private readonly timing: RpcTiming
  private readonly id = randomUUID()
  private readonly slotFreed = new Signal()
  private inFlight = 0
  private stopped = false
  private blocker: Redis | undefined
  private blockerId: number | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private loopDone: Promise<void> = Promise.resolve()
  private readonly replies: Batcher<Reply, void>

  constructor(ctx: AdapterContext, spec: ServeSpec, timing: RpcTiming, onRequest: (request: IncomingRequest) => void) {
    this.ctx = ctx
    this.spec = spec
    this.timing = timing
    this.onRequest = onRequest
    this.replies = new Batcher((replies) => sendReplies(ctx, replies), { max: RPC_BATCH, start: "now", inFlight: "one" })
  }

  private get servers(): string { return this.ctx.keys.rpcServers(this.spec.method) }
  private get queue(): string { return this.ctx.keys.rpcQueue(this.spec.method) }

  async start(): Promise<void> {
    const blocker = await this.ctx.openBlocker(`omnibus:rpc:${this.spec.method}`)
    this.blocker = blocker
    trackClientId(blocker, (id) => { this.blockerId = id })
    await this.beat()
    this.heartbeat = setInterval(() => void this.beat().catch(() => {}), this.timing.heartbeatMs)
    this.loopDone = this.loop()
  }

  private beat(): Promise<unknown> {
    return this.ctx.cmd.omnibusRpcHeartbeat(this.servers, this.id, this.timing.heartbeatMs * 3)
  }

  private async loop(): Promise<void> {
    let failures = 0
    const slots = Math.max(1, this.spec.concurrency)
    while (!this.stopped && this.ctx.isOpen()) {
      if (this.inFlight >= slots) {
        await this.slotFreed.wait(1_000)
        continue
      }
      let popped: Popped
      try {
        popped = await popMany(this.blocker!, this.queue, slots - this.inFlight)
        failures = 0
      } catch {
        if (this.stopped) break
        await sleep(Math.min(50 * 2 ** failures++, 1_000))
        continue
      }
      if (!popped) continue
      const frames = popped[1]
      if (this.stopped) {
        // popped while stopping: put them back at the head, in order, for another server
        await this.ctx.cmd.lpush(this.queue, ...frames.reverse()).catch(() => {})
        break
      }
      for (const frame of frames) this.handle(frame)
      await afterThisTurn()
    }
  }

  private handle(frame: Buffer): void {
    const decoded = decodeFrame(frame)
    if (!decoded || decoded.deadline < Date.now()) return
    const request = decoded.envelope
    this.inFlight++
    let finished = false
    this.onRequest({
      envelope: request,
      reply: async (reply) => {
        const replyTo = request.replyTo
        if (replyTo === undefined) return
        if (!this.ctx.isOpen()) throw new BusClosed({ operation: "reply" })
        // A reply list outside this namespace (a foreign requester) may live in another cluster slot: alone.
        const frame = encodeFrame(reply, 0)
        if (replyTo.startsWith(this.ctx.keys.base)) await this.replies.add({ replyTo, frame })
        else await sendReplies(this.ctx, [{ replyTo, frame }])
      },
      done: async () => {
        if (finished) return
        finished = true
        this.inFlight--
        this.slotFreed.notify()
      },
    })
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.loopDone
    this.stopped = true
    clearInterval(this.heartbeat)
    this.slotFreed.notify()
    if (this.ctx.isOpen()) await this.ctx.cmd.zrem(this.servers, this.id).catch(() => {})
    await unblock(this.ctx.cmd, this.blockerId)
    await this.loopDone
  }

  async close(): Promise<void> {
    await this.stop()
    this.blocker?.disconnect(false)
  }

  abort(): void {
    this.stopped = true
    clearInterval(this.heartbeat)
    this.slotFreed.notify()
    this.blocker?.disconnect(false)
  }
}

/**
 * The replies RPUSHed to their lists, each list's TTL renewed, one RPC_REPLY
 * call per list (one script reply to read, where MULTI … EXEC costs four).
 */
const sendReplies = async (ctx: AdapterContext, replies: ReadonlyArray<Reply>): Promise<void> => {
  const byList = new Map<string, Array<Buffer>>()
  for (const r of replies) {
    const frames = byList.get(r.replyTo)
    if (frames) frames.push(r.frame)
    else byList.set(r.replyTo, [r.frame])
  }
  await Promise.all(Array.from(byList, ([list, frames]) => ctx.cmd.omnibusRpcReply(list, REPLY_TTL_MS, ...frames)))
}

interface Waiting {
  readonly resolve: (reply: Envelope) => void
  readonly reject: (error: unknown) => void
}

export class RpcClient {
  private readonly ctx: AdapterContext
  private readonly replyKey: string
  private readonly waiting = new Map<string, Waiting>()
  private listener: Promise<Redis> | undefined
  private stopped = false
  private blocker: Redis | undefined
  /** Per method: requests issued while a send to it is on the way go out in the next. */
  private readonly senders = new Map<string, Batcher<{ readonly frame: Buffer; readonly ttlMs: number }>>()

  constructor(ctx: AdapterContext) {
    this.ctx = ctx
    this.replyKey = ctx.keys.rpcReplies(randomUUID())
  }

  private ensureListener(): Promise<Redis> {
    this.listener ??= this.ctx.openBlocker("omnibus:rpc-replies").then((blocker) => {
      this.blocker = blocker
      void this.listen(blocker)
      return blocker
    })
    return this.listener
  }

  private async listen(blocker: Redis): Promise<void> {
    let failures = 0
    while (!this.stopped && this.ctx.isOpen()) {
      let popped: Popped
      try {
        popped = await popMany(blocker, this.replyKey, RPC_BATCH)
        failures = 0
      } catch {
        if (this.stopped) return
        await sleep(Math.min(50 * 2 ** failures++, 1_000))
        continue
      }
      if (!popped) continue
      for (const frame of popped[1]) {
        const reply = decodeFrame(frame)?.envelope
        const id = reply?.correlationId
        if (reply && id !== undefined) this.waiting.get(id)?.resolve(reply)
      }
      await afterThisTurn()
    }
  }

  private sender(method: string): Batcher<{ readonly frame: Buffer; readonly ttlMs: number }> {
    let s = this.senders.get(method)
    if (!s) {
      const { keys, cmd } = this.ctx
      const servers = keys.rpcServers(method)
      const queue = keys.rpcQueue(method)
      s = new Batcher((sends) => cmd.omnibusRpcSend(servers, queue, Math.max(...sends.map((x) => x.ttlMs)), ...sends.map((x) => x.frame)), { max: RPC_BATCH, start: "now", inFlight: "one" })
      this.senders.set(method, s)
    }
    return s
  }

  async request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.stopped || !this.ctx.isOpen()) throw new BusClosed({ operation: "request" })
    const method = request.routingKey
    const correlationId = request.correlationId ?? request.id
    if (this.blocker === undefined) await this.ensureListener() // once: later requests skip the await's turn
    return new Promise<Envelope>((resolve, reject) => {
      // Core holds the deadline (rpc/client.ts) and aborts the signal when it passes;
      // the frame's deadline lets servers skip a request nobody waits for any more.
      const cleanup = () => {
        options.signal.removeEventListener("abort", onAbort)
        this.waiting.delete(correlationId)
      }
      const onAbort = () => {
        cleanup()
        reject(options.signal.reason)
      }
      if (options.signal.aborted) return onAbort()
      options.signal.addEventListener("abort", onAbort, { once: true })
      this.waiting.set(correlationId, {
        resolve: (reply) => { cleanup(); resolve(reply) },
        reject: (e) => { cleanup(); reject(e) },
      })
      const frame = encodeFrame({ ...request, correlationId, replyTo: this.replyKey }, Date.now() + options.timeoutMs)
      this.sender(method).add({ frame, ttlMs: options.timeoutMs + 1_000 }).then(
        (sent) => {
          if (Number(sent) === 0) this.waiting.get(correlationId)?.reject(new NoResponders({ method }))
        },
        (e: unknown) => this.waiting.get(correlationId)?.reject(new PublishFailed({ key: method, reason: describe(e) })),
      )
    })
  }

  /** Rejects every waiting request (the transport is closing). */
  close(): void {
    this.stopped = true
    for (const w of [...this.waiting.values()]) w.reject(new BusClosed({ operation: "request" }))
    this.blocker?.disconnect(false)
  }
}
