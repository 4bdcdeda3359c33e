/**
 * Raw ioredis as the Redis streams docs write it: XADD (pipelined: many
 * commands in flight on one connection; a batch is one pipeline), one stream
 * with one consumer group per group, XREADGROUP … COUNT <prefetch> BLOCK on a
 * dedicated connection, XACK of what was handled; RPC over lists: requests
 * RPUSHed to a list the server BLPOPs, replies LPUSHed to the requester's
 * list, which it BLPOPs.
 *
 * `ioredis-dedup` is the same client doing what Omnibus guarantees on Redis
 * (adapters/redis/src/scripts.ts ROUTE and ACK), so the gap left against it is
 * the framework's own: a publish is one script call that SETs a dedup marker
 * (NX, PX 120 s, Omnibus's default window) and XADDs only when the id is new,
 * to one stream per group (groups isolated: one group's backlog or trimming
 * never touches another's; a fan-out writes every message once per group);
 * a consumer XACKs and XDELs what it handled.
 *
 * `ioredis-careful` is ioredis-dedup written as a careful user would for the same per-message
 * guarantees Omnibus gives on the consuming side: every entry carries the metadata Omnibus writes
 * (message id, routing key, content type, ms timestamp: the same five field pairs), is read as bytes
 * (binary payloads), handed to an async handler under a concurrency limit, and acked (XACK + XDEL,
 * coalesced per turn) only once its handler resolved; a read asks for as many entries as the
 * prefetch has room for. Measured on end-to-end and fan-out.
 */
import { randomUUID } from "node:crypto"
import { Redis } from "ioredis"
import type { Body, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { cleanupRedis } from "./cleanup.ts"
import { PendingReplies, RPC_TIMEOUT_MS } from "./pending-replies.ts"

const PREFIX = "raw-bench:"

type Entries = Array<[id: string, fields: Array<string>]>

/** KEYS: dedup marker, then one stream per group. ARGV: window ms, body. */
const DEDUP_XADD = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
for i = 2, #KEYS do redis.call('XADD', KEYS[i], '*', 'd', ARGV[2]) end
return #KEYS - 1
`

/** As DEDUP_XADD, the entry's field/value pairs in ARGV[2..]. */
const DEDUP_XADD_FIELDS = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
for i = 2, #KEYS do redis.call('XADD', KEYS[i], '*', unpack(ARGV, 2)) end
return #KEYS - 1
`

const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"

/** KEYS: live servers (zset: id -> lease end), request list. ARGV: list ttl ms, request. 0 = no live server. */
const LIVE_RPUSH = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1
`

/** KEYS: reply list. ARGV: list ttl ms, reply. */
const RPUSH_TTL = `
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`

/** KEYS: live servers. ARGV: server id, lease ms. */
const LEASE = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`

const HEARTBEAT_MS = 5_000

class RedisSession implements Session {
  protected readonly url: string
  protected readonly cmd: Redis
  protected readonly stream: string
  protected readonly ns: string
  private readonly blockers: Array<Redis> = []
  private rpc: Promise<{ pending: PendingReplies; list: string }> | undefined
  protected stopped = false

  constructor(url: string, cmd: Redis, ns: string) {
    this.url = url
    this.cmd = cmd
    this.ns = ns
    this.stream = `${PREFIX}${ns}:stream`
  }

  static async open(url: string, ns: string): Promise<RedisSession> {
    const cmd = new Redis(url, { lazyConnect: true })
    await cmd.connect()
    return new RedisSession(url, cmd, ns)
  }

  protected async blocker(): Promise<Redis> {
    const r = new Redis(this.url, { lazyConnect: true })
    r.on("error", () => {})
    await r.connect()
    this.blockers.push(r)
    return r
  }

  async publish(body: Body): Promise<void> {
    await this.cmd.xadd(this.stream, "*", "d", JSON.stringify(body))
  }

  publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    return this.publishTyped(bodies.map((body) => ({ type: "", body })))
  }

  /** A stream per type (the selective workload; "" = the bench's single stream): a group on it reads that type only. */
  private typeStream(type?: string): string {
    return type ? `${PREFIX}${this.ns}:type:${type}` : this.stream
  }

  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    const p = this.cmd.pipeline()
    for (const x of items) p.xadd(this.typeStream(x.type), "*", "d", JSON.stringify(x.body))
    const res = await p.exec()
    for (const [err] of res ?? []) if (err) throw err
  }

  async declareGroup(group: string, type?: string): Promise<void> {
    try {
      await this.cmd.xgroup("CREATE", this.typeStream(type), group, "0", "MKSTREAM")
    } catch (e) {
      if (!String(e).includes("BUSYGROUP")) throw e
    }
  }

  /** The stream a group reads. */
  protected streamOf(_group: string): string {
    return this.stream
  }

  /** Settles what a read handed over. */
  protected ack(stream: string, group: string, ids: Array<string>): void {
    this.detach(this.cmd.xack(stream, group, ...ids))
  }

  /**
   * A command nobody awaits (acks, replies, requests): its failure after close() ("Connection is closed") is
   * expected and must not end the bench process as an unhandled rejection; one while running is reported.
   */
  protected detach(command: Promise<unknown>): void {
    command.catch((e: unknown) => {
      if (!this.stopped) console.error(`ioredis contender: ${e instanceof Error ? e.message : String(e)}`)
    })
  }

  async consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    await this.declareGroup(group, o.type)
    const r = await this.blocker()
    const stream = o.type ? this.typeStream(o.type) : this.streamOf(group)
    let open = true
    const loop = (async () => {
      while (open && !this.stopped) {
        const res = (await r.xreadgroup("GROUP", group, "c1", "COUNT", o.prefetch, "BLOCK", 200, "STREAMS", stream, ">")) as Array<[string, Entries]> | null
        if (!res) continue
        const ids: Array<string> = []
        for (const [id, fields] of res[0]![1]) {
          onMessage(JSON.parse(fields[1]!) as Body)
          ids.push(id)
        }
        if (ids.length) this.ack(stream, group, ids)
      }
    })()
    return { close: async () => { open = false; await loop.catch(() => {}) } }
  }

  async serve() {
    const r = await this.blocker()
    const queue = this.rpcQueue
    let open = true
    const loop = (async () => {
      while (open && !this.stopped) {
        const res = await r.blpop(queue, 0.2)
        if (!res) continue
        const req = JSON.parse(res[1]) as { id: string; replyTo: string; seq: number }
        this.detach(this.sendReply(req.replyTo, JSON.stringify({ id: req.id, seq: req.seq })))
      }
    })()
    const registered = await this.register()
    return { close: async () => { open = false; registered.stop(); await loop.catch(() => {}) } }
  }

  /** A server makes itself known to requesters (nothing here: requests are pushed blind). */
  protected async register(): Promise<{ stop(): void }> {
    return { stop: () => {} }
  }

  protected sendReply(list: string, reply: string): Promise<unknown> {
    return this.cmd.lpush(list, reply)
  }

  /** Puts a request on the server's list; rejects when it cannot be served. */
  protected sendRequest(request: string): Promise<unknown> {
    return this.cmd.rpush(this.rpcQueue, request)
  }

  protected get rpcQueue(): string {
    return `${PREFIX}${this.ns}:rpc`
  }

  private replies() {
    return (this.rpc ??= (async () => {
      const r = await this.blocker()
      const list = `${PREFIX}${this.ns}:replies`
      const pending = new PendingReplies()
      void (async () => {
        while (!this.stopped) {
          const res = await r.blpop(list, 0.2).catch(() => null)
          if (!res) continue
          pending.reply((JSON.parse(res[1]) as { id: string }).id)
        }
      })()
      return { pending, list }
    })())
  }

  async request(seq: number): Promise<void> {
    const rpc = await this.replies()
    await rpc.pending.request((id) => this.sendRequest(JSON.stringify({ id, replyTo: rpc.list, seq })))
  }

  async close(): Promise<void> {
    this.stopped = true
    await new Promise((r) => setTimeout(r, 250)) // blocking reads time out (200 ms)
    for (const b of this.blockers) b.disconnect()
    await this.cmd.quit().catch(() => {})
  }
}

interface RpcScripts {
  liveRpush(servers: string, queue: string, ttlMs: number, request: string): Promise<number>
  rpushTtl(list: string, ttlMs: number, reply: string): Promise<number>
  lease(servers: string, id: string, leaseMs: number): Promise<number>
}

/**
 * Raw ioredis with Omnibus's guarantees: dedup marker, one stream per group, XACK + XDEL; RPC as
 * adapters/redis/src/rpc.ts does it: servers hold a lease in a sorted set (heartbeat), a request is
 * pushed only while a server is live (else an error at once, not a timeout), request and reply
 * lists expire when nobody reads them.
 */
class DedupSession extends RedisSession {
  private readonly groups: Array<string> = []
  protected keys: Array<string> = []
  private next = 0

  static override async open(url: string, ns: string): Promise<DedupSession> {
    const cmd = new Redis(url, { lazyConnect: true })
    await cmd.connect()
    cmd.defineCommand("dedupXadd", { lua: DEDUP_XADD })
    cmd.defineCommand("dedupXaddFields", { lua: DEDUP_XADD_FIELDS })
    cmd.defineCommand("liveRpush", { lua: LIVE_RPUSH, numberOfKeys: 2 })
    cmd.defineCommand("rpushTtl", { lua: RPUSH_TTL, numberOfKeys: 1 })
    cmd.defineCommand("lease", { lua: LEASE, numberOfKeys: 1 })
    return new this(url, cmd, ns)
  }

  private get scripts(): RpcScripts {
    return this.cmd as unknown as RpcScripts
  }

  private get servers(): string {
    return `${PREFIX}${this.ns}:rpc-servers`
  }

  protected override async register(): Promise<{ stop(): void }> {
    const id = `${process.pid}-${this.ns}`
    await this.scripts.lease(this.servers, id, HEARTBEAT_MS * 3)
    const timer = setInterval(() => this.detach(this.scripts.lease(this.servers, id, HEARTBEAT_MS * 3)), HEARTBEAT_MS)
    return { stop: () => clearInterval(timer) }
  }

  protected override sendReply(list: string, reply: string): Promise<unknown> {
    return this.scripts.rpushTtl(list, RPC_TIMEOUT_MS, reply)
  }

  protected override async sendRequest(request: string): Promise<unknown> {
    if ((await this.scripts.liveRpush(this.servers, this.rpcQueue, RPC_TIMEOUT_MS, request)) === 0) throw new Error("no live server for the request")
    return undefined
  }

  protected override streamOf(group: string): string {
    return `${PREFIX}${this.ns}:g:${group}`
  }

  protected override ack(stream: string, group: string, ids: Array<string>): void {
    this.detach(this.cmd.pipeline().xack(stream, group, ...ids).xdel(stream, ...ids).exec())
  }

  protected send(target: Redis | ReturnType<Redis["pipeline"]>, body: Body): Promise<unknown> | unknown {
    // a fresh id per publish, as Omnibus gives every message one
    const marker = `${PREFIX}${this.ns}:id:${process.pid}-${this.next++}`
    return (target as unknown as { dedupXadd: (...a: Array<string | number>) => unknown }).dedupXadd(this.keys.length + 1, marker, ...this.keys, 120_000, JSON.stringify(body))
  }

  override async publish(body: Body): Promise<void> {
    await this.send(this.cmd, body)
  }

  override async publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    const p = this.cmd.pipeline()
    for (const b of bodies) this.send(p, b)
    const res = await p.exec()
    for (const [err] of res ?? []) if (err) throw err
  }

  override async declareGroup(group: string): Promise<void> {
    try {
      await this.cmd.xgroup("CREATE", this.streamOf(group), group, "0", "MKSTREAM")
    } catch (e) {
      if (!String(e).includes("BUSYGROUP")) throw e
    }
    if (!this.groups.includes(group)) this.groups.push(group)
    this.keys = this.groups.map((g) => this.streamOf(g))
  }
}

type BufferEntries = Array<[id: Buffer, fields: Array<Buffer>]>

/** ioredis-dedup with Omnibus's metadata per entry and per-message async handling (file comment). */
class CarefulSession extends DedupSession {
  protected override send(target: Redis | ReturnType<Redis["pipeline"]>, body: Body): Promise<unknown> | unknown {
    const id = randomUUID()
    const fields = ["payload", JSON.stringify(body), "id", id, "routing-key", "bench.event", "content-type", "application/json", "timestamp", String(Date.now())]
    return (target as unknown as { dedupXaddFields: (...a: Array<string | number>) => unknown }).dedupXaddFields(this.keys.length + 1, `${PREFIX}${this.ns}:id:${id}`, ...this.keys, 120_000, ...fields)
  }

  override async consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    await this.declareGroup(group)
    const r = await this.blocker()
    const stream = this.streamOf(group)
    const handler = async (b: Body): Promise<void> => onMessage(b)
    let open = true
    let unsettled = 0
    let running = 0
    const waiting: Array<{ id: string; body: Body }> = []
    let acks: Array<string> = []
    let wake: (() => void) | undefined
    const flush = (): void => {
      const ids = acks
      acks = []
      this.detach(this.cmd.pipeline().xack(stream, group, ...ids).xdel(stream, ...ids).exec().finally(() => {
        unsettled -= ids.length
        wake?.()
      }))
    }
    const run = (m: { id: string; body: Body }): void => {
      running++
      handler(m.body).then(() => {
        if (acks.push(m.id) === 1) setImmediate(flush)
      }, () => { /* left unacked: redelivered after a claim */ }).finally(() => {
        running--
        const next = waiting.shift()
        if (next) run(next)
      })
    }
    const loop = (async () => {
      while (open && !this.stopped) {
        const room = o.prefetch - unsettled
        if (room < o.prefetch / 2) {
          await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 200) })
          continue
        }
        const res = (await r.xreadgroupBuffer("GROUP", group, "c1", "COUNT", room, "BLOCK", 200, "STREAMS", stream, ">")) as Array<[Buffer, BufferEntries]> | null
        if (!res) continue
        for (const [id, fields] of res[0]![1]) {
          const headers: Record<string, string> = {}
          for (let i = 2; i + 1 < fields.length; i += 2) headers[fields[i]!.toString()] = fields[i + 1]!.toString()
          if (headers["content-type"] !== "application/json") continue
          unsettled++
          const m = { id: id.toString(), body: JSON.parse(fields[1]!.toString()) as Body }
          if (running < o.concurrency) run(m)
          else waiting.push(m)
        }
      }
    })()
    return { close: async () => { open = false; wake?.(); await loop.catch(() => {}) } }
  }
}

export const ioredisCareful = (url: string): Contender => ({
  name: "ioredis-careful",
  kind: "raw",
  skips: {
    publish: "its publishes are ioredis-dedup's with four more fields; measured where a consumer runs",
    "publish-batch": "as publish",
    rpc: "its RPC is ioredis-dedup's",
    selective: "as ioredis-dedup",
    memory: "as ioredis-dedup",
    latency: "as ioredis-dedup at 2,000 msg/s; measured where throughput shows the per-message cost",
    import: "the same module as ioredis",
  },
  notes: "ioredis-dedup written for Omnibus's per-message consumer guarantees: the same metadata fields per entry (id, routing key, content type, timestamp), payload read as bytes, async handler under a concurrency limit, ack once the handler resolved",
  open: (ns) => CarefulSession.open(url, ns),
  cleanup: (ns) => cleanupRedis(url, `${PREFIX}${ns}:`),
})

export const ioredisDedup = (url: string): Contender => ({
  name: "ioredis-dedup",
  kind: "raw",
  skips: { selective: "plain ioredis reads the selective workload's type streams; this contender is for the throughput workloads" },
  notes: "raw ioredis doing what Omnibus guarantees: dedup marker per message, one stream per group, XACK + XDEL; RPC only to a live server (leases in a sorted set), request and reply lists that expire",
  open: (ns) => DedupSession.open(url, ns),
  cleanup: (ns) => cleanupRedis(url, `${PREFIX}${ns}:`),
})

export const ioredisRaw = (url: string): Contender => ({
  name: "ioredis",
  kind: "raw",
  skips: {},
  open: (ns) => RedisSession.open(url, ns),
  cleanup: (ns) => cleanupRedis(url, `${PREFIX}${ns}:`),
})
