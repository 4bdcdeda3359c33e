/**
 * The envelope: what travels on every broker, and its id generator. Adapters
 * map it onto their native properties (AMQP properties, NATS/Kafka headers,
 * Redis stream fields) with the names of the wire schema (wire.ts).
 */
import { randomFillSync } from "node:crypto"

export interface Envelope {
  /** Unique message id (UUID v7 unless the publisher chose one); dedup key. */
  readonly id: string
  /** The concrete routing key the message was published with. */
  readonly routingKey: string
  /** Ordering/partition key: messages with one key are handled in order when asked. */
  readonly key?: string | undefined
  readonly payload: Uint8Array
  readonly contentType: string
  /** User headers. Names starting with "x-omnibus-" are reserved. */
  readonly headers: Readonly<Record<string, string>>
  readonly correlationId?: string | undefined
  readonly replyTo?: string | undefined
  /** Milliseconds since the epoch: the publisher's `timestamp` option, else the publish time. */
  readonly timestamp: number
}

const HEX = Array.from({ length: 256 }, (_, i) => (i + 0x100).toString(16).slice(1))

/** Random bytes drawn from one buffer refilled by a single randomFillSync call (not one call per id). */
const POOL = Buffer.allocUnsafe(4096)
let poolAt = POOL.length
const random = (n: number): number => {
  if (poolAt + n > POOL.length) {
    randomFillSync(POOL)
    poolAt = 0
  }
  const at = poolAt
  poolAt += n
  return at
}

/** Generator state: the millisecond of the last id, its "xxxxxxxx-xxxx-" text, and a 31-bit counter. */
let lastMs = -1
let msText = ""
let seq = 0

const startMs = (ms: number): void => {
  lastMs = ms
  // 48-bit big-endian milliseconds as 12 hex digits
  const hi = Math.floor(ms / 0x1000000)
  const lo = ms % 0x1000000
  const h = hi.toString(16).padStart(6, "0") + lo.toString(16).padStart(6, "0")
  msText = `${h.slice(0, 8)}-${h.slice(8)}-`
  // a random start (top bit clear, so it rarely wraps) keeps ids of other processes apart
  const r = random(4)
  seq = ((POOL[r]! & 0x7f) << 24) | (POOL[r + 1]! << 16) | (POOL[r + 2]! << 8) | POOL[r + 3]!
}

/**
 * A UUID v7 (RFC 9562): 48-bit Unix milliseconds, then (method 1 of section
 * 6.2) a 31-bit counter seeded at random every millisecond and incremented
 * within it, spread over rand_a and the top of rand_b, then 42 random bits.
 * Ids of one process are strictly increasing (also when the clock steps back:
 * the counter goes on from the last millisecond; a wrapped counter moves to the
 * next millisecond). The same layout as the uuid package's v7, without its
 * per-id crypto call and string building.
 */
export const newMessageId = (): string => {
  const now = Date.now()
  if (now > lastMs) startMs(now)
  else if (++seq > 0x7fffffff) startMs(lastMs + 1)
  const r = random(6)
  const b6 = 0x70 | (seq >>> 28)
  const b7 = (seq >>> 20) & 0xff
  const b8 = 0x80 | ((seq >>> 14) & 0x3f)
  const b9 = (seq >>> 6) & 0xff
  const b10 = ((seq << 2) & 0xff) | (POOL[r]! & 0x03)
  return `${msText}${HEX[b6]}${HEX[b7]}-${HEX[b8]}${HEX[b9]}-${HEX[b10]}${HEX[POOL[r + 1]!]}${HEX[POOL[r + 2]!]}${HEX[POOL[r + 3]!]}${HEX[POOL[r + 4]!]}${HEX[POOL[r + 5]!]}`
}

