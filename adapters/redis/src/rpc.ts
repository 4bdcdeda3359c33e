/**
 * RPC over lists.
 * - Requests: RPUSH to the method's list (`rpc:q:<method>`); the servers of the
 *   method BLPOP it on dedicated connections, so they share the requests.
 * - Live servers: a sorted set per method (`rpc:s:<method>`, server id -> lease
 *   expiry on the server clock), refreshed by heartbeat. The RPC_SEND script
 *   drops expired servers and refuses to enqueue when none is left: the
 *   requester gets NoResponders in one round trip.
 * - Replies: RPUSH to the requester's own list (`rpc:r:<transport id>`, with
 *   a TTL), read by one BLPOP loop per transport and matched by correlation id;
 *   a reply for a request no longer waiting is dropped.
 * A request carries its deadline; servers skip requests already expired.
 */
import { randomUUID } from "node:crypto"
import { BusClosed, NoResponders, PublishFailed } from "@omnibus/core"
import type { Envelope } from "@omnibus/core/adapter"
import type { Consumption, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import { describe } from "./connection.ts"
import { Signal, sleep, trackClientId, unblock, type AdapterContext } from "./context.ts"
import { decodeFrame, encodeFrame } from "./fields.ts"

const REPLY_TTL_MS = 60_000
const BLOCK_SECONDS = 1

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

  constructor(ctx: AdapterContext, spec: ServeSpec, timing: RpcTiming, onRequest: (request: IncomingRequest) => void) {
    this.ctx = ctx
    this.spec = spec
    this.timing = timing
    this.onRequest = onRequest
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
    while (!this.stopped && this.ctx.isOpen()) {
      if (this.inFlight >= Math.max(1, this.spec.concurrency)) {
        await this.slotFreed.wait(1_000)
        continue
      }
      let popped: [Buffer, Buffer] | null
      try {
        popped = (await this.blocker!.blpopBuffer(this.queue, BLOCK_SECONDS)) as [Buffer, Buffer] | null
        failures = 0
      } catch {
        if (this.stopped) break
        await sleep(Math.min(50 * 2 ** failures++, 1_000))
        continue
      }
      if (!popped) continue
      if (this.stopped) {
        // popped while stopping: put it back at the head for another server
        await this.ctx.cmd.lpush(this.queue, popped[1]).catch(() => {})
        break
      }
      this.handle(popped[1])
    }
  }

  private handle(frame: Buffer): void {
    const decoded = decodeFrame(frame)
    if (!decoded || decoded.deadline < Date.now()) return
    const request = decoded.envelope
    this.inFlight++
    let finished = false
    const cmd = this.ctx.cmd
    this.onRequest({
      envelope: request,
      reply: async (reply) => {
        if (request.replyTo === undefined) return
        if (!this.ctx.isOpen()) throw new BusClosed({ operation: "reply" })
        await cmd.multi().rpush(request.replyTo, encodeFrame(reply, 0)).pexpire(request.replyTo, REPLY_TTL_MS).exec()
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
      let popped: [Buffer, Buffer] | null
      try {
        popped = (await blocker.blpopBuffer(this.replyKey, BLOCK_SECONDS)) as [Buffer, Buffer] | null
        failures = 0
      } catch {
        if (this.stopped) return
        await sleep(Math.min(50 * 2 ** failures++, 1_000))
        continue
      }
      if (!popped) continue
      const reply = decodeFrame(popped[1])?.envelope
      const id = reply?.correlationId
      if (reply && id !== undefined) this.waiting.get(id)?.resolve(reply)
    }
  }

  async request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.stopped || !this.ctx.isOpen()) throw new BusClosed({ operation: "request" })
    const method = request.routingKey
    const correlationId = request.correlationId ?? request.id
    await this.ensureListener()
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
      const { keys, cmd } = this.ctx
      cmd.omnibusRpcSend(keys.rpcServers(method), keys.rpcQueue(method), frame, options.timeoutMs + 1_000).then(
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
