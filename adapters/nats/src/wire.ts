/**
 * Envelope ↔ NATS message. Metadata travels in NATS headers with core's flat
 * `Wire` layout (toWireHeaders/fromWireHeaders); CloudEvents attributes, when
 * on, as the NATS binding's `ce-*` headers. Two NATS-specific additions (names
 * in core's `AdapterHeaders.nats`):
 * - header values with CR/LF (not allowed in NATS headers) are base64-encoded
 *   and listed in `x-omnibus-nats-b64`;
 * - payloads too big for the server's max_payload (1 MiB by default) are
 *   stored as chunks in the blob stream and the message carries the chunk
 *   sequences in `x-omnibus-nats-blob` (claim check). Blobs expire with the
 *   blob stream's max_age.
 */
import { canonicalMIMEHeaderKey, MsgHdrsImpl } from "@nats-io/nats-core"
import type { Msg, MsgHdrs } from "@nats-io/nats-core"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { AdapterHeaders, fromWireHeaders, readCloudEventHeaders, toWireHeaders } from "@omnibus/core/adapter"
import type { Envelope } from "@omnibus/core/adapter"

export const B64_HEADER = AdapterHeaders.nats.base64
export const BLOB_HEADER = AdapterHeaders.nats.blob

/** What encode() writes in BLOB_HEADER: the chunks' stream sequences. */
const BLOB_REF = /^[1-9][0-9]{0,15}(,[1-9][0-9]{0,15})*$/

/** Chunk size for blobs: stream-get replies are base64 JSON, so stay well under 1 MiB. */
const CHUNK = 256 * 1024
/** Room left for headers and protocol overhead under the server's max_payload. */
const HEADROOM = 64 * 1024

/** Values listed in B64_HEADER were base64-encoded by toHeaders (CR/LF): decoded in place. */
const decodeBase64Values = (out: Record<string, string>): Record<string, string> => {
  const b64 = out[B64_HEADER]
  if (b64 !== undefined) {
    try {
      for (const k of JSON.parse(b64) as Array<string>) {
        const v = out[k]
        if (v !== undefined) out[k] = Buffer.from(v, "base64").toString("utf8")
      }
    } catch {
      // a foreign or corrupt list: leave values as they are
    }
  }
  return out
}

export const toRecord = (h: MsgHdrs | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!h) return out
  for (const [k, vs] of h) if (vs.length > 0) out[k] = vs[vs.length - 1]!
  return decodeBase64Values(out)
}

/** The fields nats.js's MsgImpl declares (lib/msg.d.ts): the header block is `_rdata[0, _msg.hdr)`, hdr -1 for none. */
interface RawMsg {
  readonly _msg?: { readonly hdr?: unknown }
  readonly _rdata?: unknown
}

/**
 * The header block's text: null when the message has none, undefined when the message
 * is not shaped like MsgImpl (then msg.headers is read). msg.headers builds a MsgHdrs
 * whose every append searches its keys (an array each time): per delivery, the largest
 * allocation of the consume path in profiles.
 */
const headerText = (msg: Msg): string | null | undefined => {
  const m = msg as unknown as RawMsg
  const hdr = m._msg?.hdr
  const raw = m._rdata
  if (typeof hdr !== "number" || !(raw instanceof Uint8Array)) return undefined
  if (hdr < 0) return null
  return Buffer.from(raw.buffer, raw.byteOffset, Math.min(hdr, raw.byteLength)).toString("utf8")
}

const STATUS_LINE = "NATS/1.0"

/** A message's status code (100 heartbeat, 404/408 end of pull, 503 no responders), 0 for none. */
export const statusOf = (msg: Msg): number => {
  const text = headerText(msg)
  if (text === undefined) return msg.headers?.code ?? 0
  if (text === null) return 0
  const end = text.indexOf("\r\n")
  const code = parseInt(text.slice(STATUS_LINE.length, end < 0 ? undefined : end).trim(), 10)
  return Number.isNaN(code) ? 0 : code
}

/** A message's headers as a record (the last value of a repeated name), read as MsgHdrsImpl.decode reads them. */
export const headerRecord = (msg: Msg): Record<string, string> => {
  const text = headerText(msg)
  if (text === undefined) return toRecord(msg.headers)
  const out: Record<string, string> = {}
  if (text === null) return out
  const lines = text.split("\r\n")
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(":")
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim()
  }
  return decodeBase64Values(out)
}

/** Header names already checked (canonicalMIMEHeaderKey throws on a bad one): a handful in practice. */
const validNames = new Set<string>()

const checkedName = (k: string): string => {
  if (validNames.has(k)) return k
  canonicalMIMEHeaderKey(k)
  if (validNames.size >= 1_000) validNames.clear()
  validNames.add(k)
  return k
}

/**
 * Straight into the header map: the record's names are distinct, so MsgHdrs.set's search
 * for an existing name (a keys array per call, twice) is waste, a tenth of an RPC's CPU.
 * Names are checked as set() would; values are trimmed as set() does.
 */
export const toHeaders = (record: Readonly<Record<string, string>>): MsgHdrs => {
  const h = new MsgHdrsImpl()
  let encoded: Array<string> | undefined
  for (const k in record) {
    if (k === B64_HEADER) continue
    const v = record[k]!
    if (v.includes("\r") || v.includes("\n")) {
      h.headers.set(checkedName(k), [Buffer.from(v, "utf8").toString("base64")])
      ;(encoded ??= []).push(k)
    } else h.headers.set(checkedName(k), [v.trim()])
  }
  if (encoded) h.headers.set(B64_HEADER, [JSON.stringify(encoded)])
  return h
}

/**
 * Drops the server's own headers (Nats-Msg-Id...) and reads CloudEvents
 * attributes: the rest is core's layout plus user headers (fromWireHeaders
 * keeps the adapter's reserved-prefix headers out of user headers).
 */
export const envelopeHeaders = (record: Readonly<Record<string, string>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(record)) if (!/^nats-/i.test(k)) out[k] = v
  return readCloudEventHeaders(out, "nats")
}

export class WireCodec {
  private readonly js: JetStreamClient
  private readonly jsm: JetStreamManager
  private readonly blobStream: string
  private readonly inlineMax: number

  constructor(js: JetStreamClient, jsm: JetStreamManager, blobStream: string, serverMaxPayload: number) {
    this.js = js
    this.jsm = jsm
    this.blobStream = blobStream
    this.inlineMax = Math.max(CHUNK, serverMaxPayload - HEADROOM)
  }

  /** Wire headers + body at once, or undefined when the payload must go to the blob stream (encode). */
  encodeInline(e: Envelope, extra?: Readonly<Record<string, string>>): { headers: MsgHdrs; data: Uint8Array } | undefined {
    return e.payload.byteLength <= this.inlineMax ? { headers: toHeaders({ ...toWireHeaders(e), ...extra }), data: e.payload } : undefined
  }

  /** Wire headers + body for an envelope; large payloads go to the blob stream first. */
  async encode(e: Envelope, extra?: Readonly<Record<string, string>>): Promise<{ headers: MsgHdrs; data: Uint8Array }> {
    const record = { ...toWireHeaders(e), ...extra }
    if (e.payload.byteLength <= this.inlineMax) return { headers: toHeaders(record), data: e.payload }
    const seqs: Array<number> = []
    const subject = `${this.blobStream}.${e.id.replace(/[^A-Za-z0-9_-]/g, "_")}`
    for (let off = 0; off < e.payload.byteLength; off += CHUNK) {
      const ack = await this.js.publish(subject, e.payload.subarray(off, off + CHUNK))
      seqs.push(ack.seq)
    }
    record[BLOB_HEADER] = seqs.join(",")
    return { headers: toHeaders(record), data: new Uint8Array(0) }
  }

  /** Resolves a claim check: the payload, fetched back from the blob stream. */
  async payload(record: Readonly<Record<string, string>>, data: Uint8Array): Promise<Uint8Array> {
    const ref = record[BLOB_HEADER]
    if (ref === undefined) return data
    // Not a list of stream sequences: not a claim check this adapter wrote (a foreign or corrupt
    // header). The message is its own payload and core judges it (dead letters), instead of a
    // "transient" failure that would be redelivered forever.
    if (!BLOB_REF.test(ref)) return data
    const parts: Array<Uint8Array> = []
    for (const s of ref.split(",")) {
      const m = await this.jsm.streams.getMessage(this.blobStream, { seq: Number(s) })
      if (!m) throw new Error(`payload chunk ${s} expired from stream ${this.blobStream}`)
      parts.push(m.data)
    }
    return new Uint8Array(Buffer.concat(parts))
  }

  /** The envelope at once, or undefined when the payload is a claim check to fetch first (decode). */
  decodeInline(
    record: Record<string, string>,
    data: Uint8Array,
    fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
  ): Envelope | undefined {
    const ref = record[BLOB_HEADER]
    if (ref !== undefined && BLOB_REF.test(ref)) return undefined
    return fromWireHeaders(envelopeHeaders(record), data, fallback)
  }

  async decode(
    record: Record<string, string>,
    data: Uint8Array,
    fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
  ): Promise<Envelope> {
    const payload = await this.payload(record, data)
    return fromWireHeaders(envelopeHeaders(record), payload, fallback)
  }
}
