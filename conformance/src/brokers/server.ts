/**
 * Which broker product and version serves a URL, read from the server itself
 * where its protocol says it, so that every run (conformance, faults) is
 * labelled with what it was measured against:
 *
 *   amqp(s)://   Connection.Start server-properties: product, version
 *   nats|tls://  the INFO line the server sends on connect: version
 *   redis(s)://  INFO server: valkey_version (Valkey) or redis_version
 *   kafka://     no protocol field names the release: OMNIBUS_KAFKA_VERSION,
 *                which scripts/kafka.sh and the launcher start (source "launch")
 *
 * Raw protocol probes: the conformance package depends on no broker client.
 */
import type { ConnectionOptions } from "node:tls"
import { exchangeBytes } from "./common.ts"
import { KAFKA_VERSION } from "./kafka.ts"

export interface BrokerServer {
  /** "RabbitMQ", "NATS", "Redis", "Valkey", "Apache Kafka". */
  readonly product: string
  readonly version: string
  /** "server": the server said so on connect; "launch": the version that was started (Kafka). */
  readonly source: "server" | "launch"
}

interface Target {
  readonly port: number
  readonly host: string
  readonly tls: ConnectionOptions | undefined
}

const targetOf = (u: URL, defaultPort: number, tlsSchemes: ReadonlyArray<string>, tls: ConnectionOptions | undefined): Target => ({
  port: u.port === "" ? defaultPort : Number(u.port),
  host: u.hostname.replace(/^\[|\]$/g, ""),
  tls: tlsSchemes.includes(u.protocol) ? { servername: u.hostname, ...tls } : undefined,
})

/** AMQP field-table values of Connection.Start (the types RabbitMQ sends in server-properties). */
const readTable = (b: Buffer, start: number, end: number): Map<string, unknown> => {
  const out = new Map<string, unknown>()
  let i = start
  while (i < end) {
    const klen = b.readUInt8(i)
    const key = b.toString("utf8", i + 1, i + 1 + klen)
    i += 1 + klen
    const type = String.fromCharCode(b.readUInt8(i++))
    if (type === "S") {
      const n = b.readUInt32BE(i)
      out.set(key, b.toString("utf8", i + 4, i + 4 + n))
      i += 4 + n
    } else if (type === "F") {
      const n = b.readUInt32BE(i)
      out.set(key, readTable(b, i + 4, i + 4 + n))
      i += 4 + n
    } else if (type === "t") {
      out.set(key, b.readUInt8(i) !== 0)
      i += 1
    } else {
      break // a type server-properties do not use: what was read is enough
    }
  }
  return out
}

const amqpServer = async (t: Target): Promise<BrokerServer | undefined> => {
  // Protocol header; the server answers with Connection.Start (frame type 1, class 10, method 10).
  const frame = (b: Buffer): number => (b.length >= 7 ? 7 + b.readUInt32BE(3) + 1 : Infinity)
  const b = await exchangeBytes(t, Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]), (x) => x.length >= frame(x))
  if (b.length < frame(b) || b.readUInt8(0) !== 1 || b.readUInt16BE(7) !== 10 || b.readUInt16BE(9) !== 10) return undefined
  const props = readTable(b, 17, 17 + b.readUInt32BE(13))
  const product = props.get("product")
  const version = props.get("version")
  return typeof product === "string" && typeof version === "string" ? { product, version, source: "server" } : undefined
}

const natsServer = async (t: Target): Promise<BrokerServer | undefined> => {
  // INFO comes in clear before any TLS upgrade: read it without TLS.
  const text = (await exchangeBytes({ port: t.port, host: t.host }, "", (b) => b.includes("\r\n"))).toString("utf8")
  const m = /^INFO\s+(\{.*\})\s*\r\n/.exec(text)
  if (!m) return undefined
  const info = JSON.parse(m[1]!) as { version?: unknown }
  return typeof info.version === "string" ? { product: "NATS", version: info.version, source: "server" } : undefined
}

const respCommand = (words: ReadonlyArray<string>): string =>
  `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`

const redisServer = async (t: Target, u: URL): Promise<BrokerServer | undefined> => {
  const user = decodeURIComponent(u.username)
  const password = decodeURIComponent(u.password)
  const auth = password ? respCommand(user ? ["AUTH", user, password] : ["AUTH", password]) : ""
  // Done at an error reply or once the whole bulk string of INFO is in.
  const complete = (b: Buffer): boolean => {
    const at = b.indexOf("$")
    if (at === -1) return b.includes("-")
    const header = /^\$(\d+)\r\n/.exec(b.toString("latin1", at, at + 16))
    return header !== null && b.length >= at + header[0].length + Number(header[1]) + 2
  }
  const text = (await exchangeBytes(t, `${auth}${respCommand(["INFO", "server"])}`, complete)).toString("utf8")
  const valkey = /\bvalkey_version:([^\r\n]+)/.exec(text)
  if (valkey) return { product: "Valkey", version: valkey[1]!, source: "server" }
  const redis = /\bredis_version:([^\r\n]+)/.exec(text)
  return redis ? { product: "Redis", version: redis[1]!, source: "server" } : undefined
}

/**
 * The product and version behind `url`, or undefined when the server cannot be
 * asked (unreachable, unknown scheme). `tls`: extra TLS options (a private CA).
 */
export const detectServer = async (url: string, tls?: ConnectionOptions): Promise<BrokerServer | undefined> => {
  const u = new URL(url)
  switch (u.protocol) {
    case "amqp:":
    case "amqps:":
      return amqpServer(targetOf(u, u.protocol === "amqps:" ? 5671 : 5672, ["amqps:"], tls))
    case "nats:":
    case "tls:":
      return natsServer(targetOf(u, 4222, [], undefined))
    case "redis:":
    case "rediss:":
      return redisServer(targetOf(u, 6379, ["rediss:"], tls), u)
    case "kafka:":
      return { product: "Apache Kafka", version: KAFKA_VERSION, source: "launch" }
    default:
      return undefined
  }
}

/** "RabbitMQ 4.0.5", "Apache Kafka 4.4.0 (as launched)". */
export const serverLabel = (s: BrokerServer): string => `${s.product} ${s.version}${s.source === "launch" ? " (as launched)" : ""}`
