/**
 * Core's IdempotencyStore on Redis, usable with any adapter: a claim is
 * `SET key in-progress NX PX lease` (a lease: a crashed claimer's key
 * expires), complete overwrites it with "done" for the TTL, release deletes
 * only an in-progress claim. Keys: `<prefix>idem:<key>` (no hash tag, so they
 * spread over a cluster).
 */
import type { ClaimResult, IdempotencyStore } from "@omnibus/core"
import { Redis } from "ioredis"
import { openClient, parseRedisUrl } from "./connection.ts"
import { Keys } from "./keys.ts"
import { withScripts, type ScriptedRedis } from "./scripts.ts"

export interface RedisIdempotencyStoreOptions {
  /** An existing client (not closed by the store), or... */
  readonly client?: Redis
  /** ...a redis:// or rediss:// URL the store connects to itself. */
  readonly url?: string
  /** Key prefix (default "omnibus:"). */
  readonly prefix?: string
  readonly connectTimeoutMs?: number
}

export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly keys: Keys
  private readonly own: boolean
  private client: Promise<ScriptedRedis>

  constructor(options: RedisIdempotencyStoreOptions) {
    this.keys = new Keys({ prefix: options.prefix ?? "omnibus:", namespace: "idem" })
    if (options.client) {
      this.own = false
      this.client = Promise.resolve(withScripts(options.client))
    } else if (options.url !== undefined) {
      this.own = true
      const timeout = options.connectTimeoutMs ?? 10_000
      this.client = openClient(parseRedisUrl(options.url, timeout), timeout, "omnibus:idempotency").then(withScripts)
    } else {
      throw new TypeError("RedisIdempotencyStore needs a client or a url")
    }
    this.client.catch(() => {})
  }

  async claim(key: string, leaseMs: number): Promise<ClaimResult> {
    const c = await this.client
    const r = await c.omnibusIdemClaim(this.keys.idempotency(key), Math.max(1, Math.round(leaseMs)))
    return String(r) as ClaimResult
  }

  async complete(key: string, ttlMs: number): Promise<void> {
    const c = await this.client
    await c.set(this.keys.idempotency(key), "done", "PX", Math.max(1, Math.round(ttlMs)))
  }

  async release(key: string): Promise<void> {
    const c = await this.client
    await c.omnibusIdemRelease(this.keys.idempotency(key))
  }

  /** Closes the connection the store opened itself (a passed-in client stays open). */
  async close(): Promise<void> {
    if (!this.own) return
    const c = await this.client.catch(() => undefined)
    await c?.quit().catch(() => {})
  }
}
