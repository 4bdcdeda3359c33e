/**
 * Raw ioredis as the Redis streams docs write it: XADD (pipelined: many
 * commands in flight on one connection; a batch is one pipeline), one stream
 * with one consumer group per group, XREADGROUP … COUNT <prefetch> BLOCK on a
 * dedicated connection, XACK of what was handled; RPC over lists: requests
 * RPUSHed to a list the server BLPOPs, replies LPUSHed to the requester's
 * list, which it BLPOPs.
 */
import { Redis } from "ioredis"
import type { Body, ConsumeOptions, Contender, Session, Typed } from "../types.ts"
import { cleanupRedis } from "./cleanup.ts"

const PREFIX = "raw-bench:"

type Entries = Array<[id: string, fields: Array<string>]>

class RedisSession implements Session {
  private readonly url: string
  private readonly cmd: Redis
  private readonly stream: string
  private readonly ns: string
  private readonly blockers: Array<Redis> = []
  private rpc: Promise<{ waiting: Map<string, () => void>; next: number; list: string }> | undefined
  private stopped = false

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

  private async blocker(): Promise<Redis> {
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
  private streamOf(type?: string): string {
    return type ? `${PREFIX}${this.ns}:type:${type}` : this.stream
  }

  async publishTyped(items: ReadonlyArray<Typed>): Promise<void> {
    const p = this.cmd.pipeline()
    for (const x of items) p.xadd(this.streamOf(x.type), "*", "d", JSON.stringify(x.body))
    const res = await p.exec()
    for (const [err] of res ?? []) if (err) throw err
  }

  async declareGroup(group: string, type?: string): Promise<void> {
    try {
      await this.cmd.xgroup("CREATE", this.streamOf(type), group, "0", "MKSTREAM")
    } catch (e) {
      if (!String(e).includes("BUSYGROUP")) throw e
    }
  }

  async consume(group: string, onMessage: (b: Body) => void, o: ConsumeOptions) {
    await this.declareGroup(group, o.type)
    const stream = this.streamOf(o.type)
    const r = await this.blocker()
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
        if (ids.length) void this.cmd.xack(stream, group, ...ids)
      }
    })()
    return { close: async () => { open = false; await loop.catch(() => {}) } }
  }

  async serve() {
    const r = await this.blocker()
    const queue = `${PREFIX}${this.ns}:rpc`
    let open = true
    const loop = (async () => {
      while (open && !this.stopped) {
        const res = await r.blpop(queue, 0.2)
        if (!res) continue
        const req = JSON.parse(res[1]) as { id: string; replyTo: string; seq: number }
        void this.cmd.lpush(req.replyTo, JSON.stringify({ id: req.id, seq: req.seq }))
      }
    })()
    return { close: async () => { open = false; await loop.catch(() => {}) } }
  }

  private replies() {
    return (this.rpc ??= (async () => {
      const r = await this.blocker()
      const list = `${PREFIX}${this.ns}:replies`
      const waiting = new Map<string, () => void>()
      void (async () => {
        while (!this.stopped) {
          const res = await r.blpop(list, 0.2).catch(() => null)
          if (!res) continue
          const rep = JSON.parse(res[1]) as { id: string }
          waiting.get(rep.id)?.()
          waiting.delete(rep.id)
        }
      })()
      return { waiting, next: 0, list }
    })())
  }

  async request(seq: number): Promise<void> {
    const rpc = await this.replies()
    const id = String(rpc.next++)
    await new Promise<void>((resolve) => {
      rpc.waiting.set(id, resolve)
      void this.cmd.rpush(`${PREFIX}${this.ns}:rpc`, JSON.stringify({ id, replyTo: rpc.list, seq }))
    })
  }

  async close(): Promise<void> {
    this.stopped = true
    await new Promise((r) => setTimeout(r, 250)) // blocking reads time out (200 ms)
    for (const b of this.blockers) b.disconnect()
    await this.cmd.quit().catch(() => {})
  }
}

export const ioredisRaw = (url: string): Contender => ({
  name: "ioredis",
  kind: "raw",
  skips: {},
  open: (ns) => RedisSession.open(url, ns),
  cleanup: (ns) => cleanupRedis(url, `${PREFIX}${ns}:`),
})
