/**
 * RPC on core NATS: a request goes to `<rpcPrefix>.<method>`; the servers of
 * one group share a queue group; replies go to the requester's inbox. The
 * server answers "no responders" (503) when nobody subscribes, which becomes
 * NoResponders at once. Core's deadline ends the wait (RequestTimeout, by
 * aborting the signal); a late reply is dropped by the client's muxer.
 */
import { nuid } from "@nats-io/nats-core"
import type { Msg, Subscription } from "@nats-io/nats-core"
import { BrokerError, BusClosed, NoResponders } from "@omnibus/core"
import type { Consumption, Envelope, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import { reasonOf } from "./connection.ts"
import type { Ctx } from "./context.ts"
import { encodeGroup } from "./topology.ts"

export const rpcSubject = (ctx: Ctx, method: string): string => `${ctx.settings.rpcPrefix}.${method}`

export const serve = async (ctx: Ctx, spec: ServeSpec, onRequest: (r: IncomingRequest) => void): Promise<Consumption> => {
  if (!ctx.link.usable) throw new BusClosed({ operation: "serve" })
  const handle = async (msg: Msg): Promise<void> => {
    const replyTo = msg.reply
    if (!replyTo) return
    let envelope: Envelope
    try {
      ;({ envelope } = await ctx.wire.decode(msg.headers, msg.data, { id: nuid.next(), routingKey: spec.method }))
    } catch {
      return // unreadable request (expired blob): the requester times out
    }
    let replied = false
    onRequest({
      envelope,
      reply: async (reply: Envelope) => {
        if (replied) return
        replied = true
        if (!ctx.link.usable) throw new BusClosed({ operation: "reply" })
        try {
          const { headers, data } = await ctx.wire.encode(reply)
          ctx.link.nc.publish(replyTo, data, { headers })
        } catch (e) {
          throw new BrokerError({ operation: `reply to ${spec.method}`, reason: reasonOf(e), cause: e })
        }
      },
      done: async () => {},
    })
  }
  let sub: Subscription
  try {
    sub = ctx.link.nc.subscribe(rpcSubject(ctx, spec.method), {
      queue: encodeGroup(spec.group),
      callback: (_err, msg) => void handle(msg),
    })
    // The subscription is live on the server once the flush returns: requests sent afterwards find it.
    await ctx.link.nc.flush()
  } catch (e) {
    throw new BrokerError({ operation: `serve ${spec.method}`, reason: reasonOf(e), cause: e })
  }
  // The server has dropped the subscription once the flush returns: requests sent
  // after close() resolves get no-responders instead of reaching a closed server.
  const unsubscribe = async () => {
    if (sub.isClosed()) return
    sub.unsubscribe()
    await ctx.link.nc.flush().catch(() => undefined)
  }
  return { stop: unsubscribe, close: unsubscribe }
}

const isNoResponders = (e: unknown): boolean => {
  for (let c: unknown = e, d = 0; c instanceof Error && d < 5; c = c.cause, d++) {
    if (c.name === "NoRespondersError" || /no responders/i.test(c.message)) return true
  }
  return false
}

/** How long after core's deadline nats.js gives up its own wait (it requires a timeout). */
const NATS_TIMEOUT_GRACE_MS = 1_000

export const request = async (ctx: Ctx, req: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> => {
  if (!ctx.link.usable) throw new BusClosed({ operation: "request" })
  const method = req.routingKey
  options.signal.throwIfAborted()
  const { headers, data } = await ctx.wire.encode(req)
  // Core holds the deadline (rpc/client.ts) and aborts the signal when it passes. nats.js wants a
  // timeout of its own: a later one, which only frees its request entry after core gave up.
  const sent = ctx.link.nc.request(rpcSubject(ctx, method), data, { headers, timeout: Math.max(1, options.timeoutMs) + NATS_TIMEOUT_GRACE_MS })
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(options.signal.reason)
    options.signal.addEventListener("abort", onAbort, { once: true })
  })
  let msg: Msg
  try {
    msg = await Promise.race([sent, aborted])
  } catch (e) {
    if (options.signal.aborted) {
      sent.catch(() => undefined)
      throw options.signal.reason
    }
    if (isNoResponders(e)) throw new NoResponders({ method })
    if (!ctx.link.usable) throw new BusClosed({ operation: "request" })
    throw new BrokerError({ operation: `request ${method}`, reason: reasonOf(e), cause: e })
  } finally {
    if (onAbort) options.signal.removeEventListener("abort", onAbort)
    aborted.catch(() => undefined)
  }
  const { envelope } = await ctx.wire.decode(msg.headers, msg.data, { id: nuid.next(), routingKey: method })
  return envelope
}
