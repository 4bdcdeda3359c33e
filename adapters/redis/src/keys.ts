/**
 * The key layout. Every key of one bus namespace carries the hash tag
 * `{namespace}`, so on Redis Cluster they all live in one slot and each Lua
 * script (routing, retry, dead-letter) touches a single shard atomically.
 * The literal prefix (default "omnibus:") comes first so ACL key patterns
 * like `~omnibus:*` cover everything the adapter writes.
 */
export interface KeyOptions {
  readonly prefix: string
  readonly namespace: string
}

export class Keys {
  /** Everything before the per-object suffix, e.g. "omnibus:{default}:". Lua scripts build keys from it. */
  readonly base: string
  /** Idempotency keys are spread across slots (no shared hash tag): they are independent. */
  readonly idempotencyBase: string

  constructor(options: KeyOptions) {
    this.base = `${options.prefix}{${options.namespace}}:`
    this.idempotencyBase = `${options.prefix}idem:`
  }

  /** Hash: group -> its patterns joined by spaces (patterns never contain whitespace). */
  get bindings(): string { return `${this.base}bindings` }
  /** Stream with one consumer group (named after the group). */
  group(group: string): string { return `${this.base}g:${group}` }
  /** Stream of messages waiting for a delayed retry. */
  waiting(group: string): string { return `${this.base}w:${group}` }
  /** Sorted set: entry id in waiting(group) -> due time (ms). */
  due(group: string): string { return `${this.base}d:${group}` }
  /** Hash: entry id -> runs alone in a handler that have not settled yet (packages/core/src/isolation.ts). */
  solo(group: string): string { return `${this.base}solo:${group}` }
  /** Dead-letter stream of a group. */
  deadLetters(group: string): string { return `${this.base}dlq:${group}` }
  /** Hash: the ids published in dedup window number `bucket` (server ms / window) -> 1 (scripts.ts ROUTE). */
  dedup(bucket: number): string { return `${this.base}ids:${bucket}` }
  /** List of pending RPC requests of a method. */
  rpcQueue(method: string): string { return `${this.base}rpc:q:${method}` }
  /** Sorted set: live server id -> lease expiry (ms, server clock). */
  rpcServers(method: string): string { return `${this.base}rpc:s:${method}` }
  /** List receiving the replies of one requesting transport. */
  rpcReplies(client: string): string { return `${this.base}rpc:r:${client}` }
  idempotency(key: string): string { return `${this.idempotencyBase}${key}` }
}
