/**
 * RPC on core NATS: a request goes to `<rpcPrefix>.<method>`; the servers of
 * one group share a queue group; replies go to the connection's one reply
 * subscription (Link.request). The server answers "no responders" (503) when nobody subscribes, which becomes
 * NoResponders at once. Core's deadline ends the wait (RequestTimeout, by
 * aborting the signal); a late reply finds no waiter and is dropped.
 */
import { nuid } from "@nats-io/nats-core"
import type { Msg, Subscription } from "@nats-io/nats-core"
import { BrokerError, BusClosed, NoResponders } from "@omnibus/core"
import type { Consumption, Envelope, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import { reasonOf } from "./connection.ts"
import type { Ctx } from "./context.ts"
import { encodeGroup } from "./topology.ts"
import { headerRecord } from "./wire.ts"

export const rpcSubject = (ctx: Ctx, method: string): string => `${ctx.settings.rpcPrefix}.${method}`

/** A request's or reply's envelope; only a claim check (large payload) costs a fetch. */
const envelopeOf = (ctx: Ctx, msg: Msg, routingKey: string): Envelope | Promise<Envelope> => {
  const fallback = { id: nuid.next(), routingKey }
  const record = headerRecord(msg)
  return ctx.wire.decodeInline(record, msg.data, fallback) ?? ctx.wire.decode(record, msg.data, fallback)
}

export const serve = async (ctx: Ctx, spec: ServeSpec, onRequest: (r: IncomingRequest) => void): Promise<Consumption> => {
  if (!ctx.link.usable) throw new BusClosed({ operation: "serve" })
  const handle = async (msg: Msg): Promise<void> => {
    const replyTo = msg.reply
    if (!replyTo) return
    let envelope: Envelope
    try {
      envelope = await envelopeOf(ctx, msg, spec.method)
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
          const { headers, data } = ctx.wire.encodeInline(reply) ?? (await ctx.wire.encode(reply))
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

export const request = async (ctx: Ctx, req: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> => {
  if (!ctx.link.usable) throw new BusClosed({ operation: "request" })
  const method = req.routingKey
  options.signal.throwIfAborted()
  const { headers, data } = ctx.wire.encodeInline(req) ?? (await ctx.wire.encode(req))
  let msg: Msg
  try {
    // One reply subscription per connection (Link.request), not nc.request: that one arms a
    // timer and builds an Error with a stack for every call, even an answered one.
    msg = await ctx.link.request(rpcSubject(ctx, method), data, headers, options.signal)
  } catch (e) {
    if (options.signal.aborted) throw options.signal.reason
    if (isNoResponders(e)) throw new NoResponders({ method })
    if (!ctx.link.usable) throw new BusClosed({ operation: "request" })
    throw new BrokerError({ operation: `request ${method}`, reason: reasonOf(e), cause: e })
  }
  return envelopeOf(ctx, msg, method)
}
