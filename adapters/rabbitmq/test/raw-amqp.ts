/**
 * A minimal AMQP 0-9-1 publisher over a plain socket, for tests that must write
 * what amqplib cannot: amqplib encodes header tables in a fixed 64 KiB buffer,
 * while RabbitMQ accepts any content header that fits in frame_max (128 KiB by
 * default), as other clients (Java, Go, .NET) write. Confirm mode; string
 * headers only; PLAIN auth. Not a client library: no reconnect, no consume.
 */
import { connect as netConnect, type Socket } from "node:net"

const FRAME_END = 0xce
const METHOD = 1
const HEADER = 2
const BODY = 3

const shortstr = (s: string): Buffer => {
  const b = Buffer.from(s, "utf8")
  if (b.length > 255) throw new RangeError(`shortstr over 255 bytes: ${s.slice(0, 40)}`)
  return Buffer.concat([Buffer.from([b.length]), b])
}
const longstr = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const table = (t: Readonly<Record<string, string>>): Buffer => {
  const parts: Array<Buffer> = []
  for (const [k, v] of Object.entries(t)) parts.push(shortstr(k), Buffer.from("S"), longstr(Buffer.from(v, "utf8")))
  return longstr(Buffer.concat(parts))
}

export interface RawPublish {
  readonly exchange: string
  readonly routingKey: string
  readonly body: Buffer
  readonly contentType?: string | undefined
  readonly headers?: Readonly<Record<string, string>>
}

export class RawAmqp {
  private readonly socket: Socket
  private buffer = Buffer.alloc(0)
  private frameMax = 131072
  private waiters: Array<{ readonly match: (cls: number, m: number) => boolean; readonly resolve: (args: Buffer) => void; readonly reject: (e: Error) => void }> = []
  private failure: Error | undefined
  private nextTag = 1
  private readonly pending = new Set<number>()
  private nacked = 0
  private confirmWaiters: Array<() => void> = []

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on("data", (d: Buffer) => this.onData(d))
    socket.on("error", (e) => this.fail(e))
    socket.on("close", () => this.fail(new Error("raw AMQP socket closed")))
  }

  static async open(url: string): Promise<RawAmqp> {
    const u = new URL(url)
    const socket = netConnect({ host: u.hostname, port: Number(u.port || 5672) })
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve)
      socket.once("error", reject)
    })
    const c = new RawAmqp(socket)
    const start = c.expect(10, 10)
    socket.write(Buffer.from("AMQP\x00\x00\x09\x01", "latin1"))
    await start
    const user = decodeURIComponent(u.username || "guest")
    const pass = decodeURIComponent(u.password || "guest")
    const tune = c.expect(10, 30)
    c.method(0, 10, 11, Buffer.concat([table({}), shortstr("PLAIN"), longstr(Buffer.from(`\0${user}\0${pass}`)), shortstr("en_US")]))
    const t = await tune
    const serverFrameMax = t.readUInt32BE(2)
    c.frameMax = serverFrameMax === 0 ? 131072 : Math.min(serverFrameMax, 131072)
    c.method(0, 10, 31, Buffer.concat([u16(1), u32(c.frameMax), u16(0)]))
    const vhost = decodeURIComponent(u.pathname.replace(/^\//, "")) || "/"
    const openOk = c.expect(10, 41)
    c.method(0, 10, 40, Buffer.concat([shortstr(vhost), shortstr(""), Buffer.from([0])]))
    await openOk
    const chOk = c.expect(20, 11)
    c.method(1, 20, 10, shortstr(""))
    await chOk
    const selectOk = c.expect(85, 11)
    c.method(1, 85, 10, Buffer.from([0]))
    await selectOk
    return c
  }

  /** Publishes (persistent) and returns; `confirms()` waits for the broker's acks. */
  publish(p: RawPublish): void {
    if (this.failure) throw this.failure
    this.method(1, 60, 40, Buffer.concat([u16(0), shortstr(p.exchange), shortstr(p.routingKey), Buffer.from([0])]))
    let flags = 0
    const props: Array<Buffer> = []
    if (p.contentType !== undefined) {
      flags |= 1 << 15
      props.push(shortstr(p.contentType))
    }
    if (p.headers !== undefined) {
      flags |= 1 << 13
      props.push(table(p.headers))
    }
    flags |= 1 << 12
    props.push(Buffer.from([2])) // delivery-mode persistent
    const size = Buffer.alloc(8)
    size.writeBigUInt64BE(BigInt(p.body.length))
    const header = Buffer.concat([u16(60), u16(0), size, u16(flags), ...props])
    if (header.length + 8 > this.frameMax) throw new RangeError(`content header of ${header.length} bytes exceeds frame_max ${this.frameMax}`)
    this.frame(HEADER, 1, header)
    const chunk = this.frameMax - 8
    for (let off = 0; off < p.body.length; off += chunk) this.frame(BODY, 1, p.body.subarray(off, off + chunk))
    this.pending.add(this.nextTag++)
  }

  /** Resolves once every publish so far is acked; rejects on a nack or a broker error. */
  async confirms(): Promise<void> {
    while (this.pending.size > 0) {
      if (this.failure) throw this.failure
      await new Promise<void>((resolve) => this.confirmWaiters.push(resolve))
    }
    if (this.nacked > 0) throw new Error(`broker nacked ${this.nacked} raw publishes`)
    if (this.failure) throw this.failure
  }

  async close(): Promise<void> {
    this.socket.destroy()
  }

  private frame(type: number, channel: number, payload: Buffer): void {
    this.socket.write(Buffer.concat([Buffer.from([type]), u16(channel), u32(payload.length), payload, Buffer.from([FRAME_END])]))
  }

  private method(channel: number, cls: number, m: number, args: Buffer): void {
    this.frame(METHOD, channel, Buffer.concat([u16(cls), u16(m), args]))
  }

  private expect(cls: number, m: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure)
      this.waiters.push({ match: (c, mm) => c === cls && mm === m, resolve, reject })
    })
  }

  private fail(e: Error): void {
    this.failure ??= e
    for (const w of this.waiters.splice(0)) w.reject(this.failure)
    for (const w of this.confirmWaiters.splice(0)) w()
  }

  private onData(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d])
    while (this.buffer.length >= 7) {
      const size = this.buffer.readUInt32BE(3)
      if (this.buffer.length < 8 + size) return
      const type = this.buffer[0]!
      const payload = this.buffer.subarray(7, 7 + size)
      this.buffer = this.buffer.subarray(8 + size)
      if (type !== METHOD) continue
      const cls = payload.readUInt16BE(0)
      const m = payload.readUInt16BE(2)
      const args = payload.subarray(4)
      if ((cls === 10 && m === 50) || (cls === 20 && m === 40)) {
        const code = args.readUInt16BE(0)
        const text = args.subarray(3, 3 + args[2]!).toString("utf8")
        this.fail(new Error(`broker closed the ${cls === 10 ? "connection" : "channel"}: ${code} ${text}`))
        continue
      }
      if (cls === 60 && (m === 80 || m === 120)) {
        const tag = Number(args.readBigUInt64BE(0))
        const multiple = (args[8]! & 1) === 1
        for (const t of multiple ? [...this.pending].filter((x) => x <= tag) : [tag]) {
          if (this.pending.delete(t) && m === 120) this.nacked++
        }
        for (const w of this.confirmWaiters.splice(0)) w()
        continue
      }
      const i = this.waiters.findIndex((w) => w.match(cls, m))
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(args)
    }
  }
}
