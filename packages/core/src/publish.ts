/**
 * Publish and publishBatch: validate and encode (../message.ts buildEnvelope),
 * run the publish middleware, hand the envelope to the coalescing publisher
 * (./publisher.ts), resolve with the broker's confirm.
 */
import type { BatchEntry, BatchResult, PublishOptions, PublishReceipt } from "./api.ts"
import { json, type Codec } from "./codec.ts"
import { isEventContract, type EventContract } from "./contract.ts"
import type { Envelope } from "./envelope.ts"
import { asPublishError, BusClosed, InvalidOptions, PublishFailed } from "./errors.ts"
import { buildEnvelope } from "./message.ts"
import { compose, type Middleware, type PublishContext } from "./middleware.ts"
import type { Publisher } from "./publisher.ts"
import type { PublishOutcome } from "./transport.ts"

export interface PublishDeps {
  readonly system: string
  readonly publisher: Publisher
  readonly maxPayloadBytes: number
  readonly hooks: ReadonlyArray<NonNullable<Middleware["publish"]>>
  readonly closed: () => boolean
}

const receipt = (env: Envelope) => (o: PublishOutcome): PublishReceipt => {
  if (o.ok) return { id: env.id }
  throw o.error
}

/** One envelope through the publish middleware; the core step sends it (coalesced with others of this turn). */
const sendThrough = (deps: PublishDeps, env: Envelope): Promise<PublishReceipt> => {
  if (deps.hooks.length === 0) return deps.publisher.send(env).then(receipt(env))
  const ctx: PublishContext = {
    system: deps.system,
    routingKey: env.routingKey,
    id: env.id,
    key: env.key,
    correlationId: env.correlationId,
    contentType: env.contentType,
    bodySize: env.payload.byteLength,
    headers: { ...env.headers },
  }
  const withHeaders = (): Envelope => ({ ...env, headers: ctx.headers })
  return compose(deps.hooks, ctx, () => deps.publisher.send(withHeaders()).then(receipt(env)))()
}

export const publishOne = (
  deps: PublishDeps,
  keyOrContract: string | EventContract<unknown>,
  payload: unknown,
  options?: PublishOptions & { readonly codec?: Codec<unknown> },
): Promise<PublishReceipt> => {
  if (deps.closed()) return Promise.reject(new BusClosed({ operation: "publish" }))
  const [key, codec] = isEventContract(keyOrContract) ? [keyOrContract.key, keyOrContract.codec] : [keyOrContract, options?.codec ?? json]
  const env = buildEnvelope(key, payload, codec, options, deps.maxPayloadBytes)
  if (!("payload" in env)) return Promise.reject(env)
  return sendThrough(deps, env)
}

/** One outcome per entry; valid entries go out even when others are rejected. */
export const publishMany = async (deps: PublishDeps, entries: ReadonlyArray<BatchEntry>): Promise<ReadonlyArray<BatchResult>> => {
  if (deps.closed()) throw new BusClosed({ operation: "publishBatch" })
  if (!Array.isArray(entries)) throw new InvalidOptions({ option: "entries", reason: "publishBatch takes an array of { key, payload, options? }" })
  if (entries.some((e) => typeof e !== "object" || e === null)) throw new InvalidOptions({ option: "entries", reason: "every entry must be an object { key, payload, options? }" })
  const built = entries.map((e) =>
    isEventContract(e.key)
      ? buildEnvelope(e.key.key, e.payload, e.key.codec as Codec<unknown>, e.options, deps.maxPayloadBytes)
      : buildEnvelope(e.key, e.payload, (e.codec as Codec<unknown> | undefined) ?? json, e.options, deps.maxPayloadBytes),
  )
  if (deps.hooks.length > 0) {
    // Each entry through the middleware; the publisher coalesces what reaches it in one turn.
    return Promise.all(
      built.map((b): Promise<BatchResult> => {
        if (!("payload" in b)) return Promise.resolve({ ok: false, error: b })
        return sendThrough(deps, b).then(
          (r): BatchResult => ({ ok: true, id: r.id }),
          (e: unknown): BatchResult => ({ ok: false, error: asPublishError(e, b.routingKey) }),
        )
      }),
    )
  }
  const valid = built.filter((b): b is Envelope => "payload" in b)
  const outcomes = await deps.publisher.sendBatch(valid)
  let i = 0
  return built.map((b): BatchResult => {
    if (!("payload" in b)) return { ok: false, error: b }
    const o = outcomes[i++]
    return o?.ok ? { ok: true, id: b.id } : { ok: false, error: o?.error ?? new PublishFailed({ key: b.routingKey, reason: "no outcome" }) }
  })
}
