/**
 * Middleware: the one place a user adds behaviour around publish, handle,
 * request and serve (timing, header stamping, tracing, rate limits). Given to
 * `connect(url, { middleware })` for the whole bus, or per subscription and
 * per server. Each hook wraps the next one and the core step at the end:
 *
 *   publish → [bus middleware…] → [core: send]            (per message, batches too)
 *   handle  → [bus middleware…, subscription middleware…] → [core: the handler]
 *
 * A handle hook sees what the handler came to as a `HandleOutcome`, which only
 * `next()` and the context make: a hook that catches a failure cannot turn it
 * into an ack by accident; it must call `ctx.recover(reason)`, which is logged.
 */
import type { Message, PublishReceipt, Reply, Request } from "./api.ts"
import type { HandlerEvent } from "./consume/events.ts"

declare const outcome: unique symbol

/** What one run of a handler came to. Made only by `next()`, `ctx.fail` and `ctx.recover`. */
export type HandleOutcome =
  | { readonly ok: true; readonly [outcome]: true }
  | { readonly ok: false; readonly error: unknown; readonly [outcome]: true }

export interface PublishContext {
  /** The adapter's name: "rabbitmq", "nats", "kafka", "redis", "memory". */
  readonly system: string
  readonly routingKey: string
  readonly id: string
  readonly key: string | undefined
  readonly correlationId: string | undefined
  readonly contentType: string
  /** Encoded payload size in bytes. */
  readonly bodySize: number
  /** The headers that will be sent; a hook may add or change entries before calling `next()`. */
  readonly headers: Record<string, string>
}

export interface HandleContext {
  readonly system: string
  readonly group: string
  readonly message: Message<unknown>
  /** An outcome that fails this run (retried or dead-lettered as the policy says). */
  fail(error: unknown): HandleOutcome
  /** Turns a failed run into a handled one, on purpose: the reason is logged at warn. */
  recover(reason: string): HandleOutcome
}

export interface RequestContext {
  readonly system: string
  readonly method: string
  readonly id: string
  readonly timeoutMs: number
  readonly bodySize: number
  /** The request's headers; a hook may add or change entries before calling `next()`. */
  readonly headers: Record<string, string>
}

export interface ServeContext {
  readonly system: string
  readonly group: string
  readonly request: Request<unknown>
}

export interface Middleware {
  /** Shown in log lines about this middleware. */
  readonly name?: string
  readonly publish?: (ctx: PublishContext, next: () => Promise<PublishReceipt>) => Promise<PublishReceipt>
  readonly handle?: (ctx: HandleContext, next: () => Promise<HandleOutcome>) => Promise<HandleOutcome>
  readonly request?: (ctx: RequestContext, next: () => Promise<Reply<unknown>>) => Promise<Reply<unknown>>
  /** Resolves with the response, or rejects with the error the requester receives as RemoteError. */
  readonly serve?: (ctx: ServeContext, next: () => Promise<unknown>) => Promise<unknown>
  /** Every settled outcome of every subscription (handled, retry, dead-letter, duplicate, ...). */
  readonly observe?: (event: HandlerEvent) => void
}

type Hook<C, R> = (ctx: C, next: () => Promise<R>) => Promise<R>

/** Chains the hooks around `core`, outermost first; no hooks, no wrapper. */
export const compose = <C, R>(hooks: ReadonlyArray<Hook<C, R>>, ctx: C, core: () => Promise<R>): (() => Promise<R>) => {
  let run = core
  for (let i = hooks.length - 1; i >= 0; i--) {
    const hook = hooks[i]!
    const next = run
    run = () => hook(ctx, next)
  }
  return run
}

/** The hooks of one kind, in order. */
export const hooksOf = <K extends "publish" | "handle" | "request" | "serve">(middleware: ReadonlyArray<Middleware>, kind: K): Array<NonNullable<Middleware[K]>> =>
  middleware.flatMap((m) => (m[kind] === undefined ? [] : [m[kind]!]))

export const handled = { ok: true } as HandleOutcome
export const failed = (error: unknown): HandleOutcome => ({ ok: false, error }) as HandleOutcome
