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
import { headers as natsHeaders } from "@nats-io/nats-core"
import type { MsgHdrs } from "@nats-io/nats-core"
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

export const toRecord = (h: MsgHdrs | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!h) return out
  for (const [k, vs] of h) if (vs.length > 0) out[k] = vs[vs.length - 1]!
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

export const toHeaders = (record: Readonly<Record<string, string>>): MsgHdrs => {
  const h = natsHeaders()
  const encoded: Array<string> = []
  for (const [k, v] of Object.entries(record)) {
    if (k === B64_HEADER) continue
    if (/[\r\n]/.test(v)) {
      h.set(k, Buffer.from(v, "utf8").toString("base64"))
      encoded.push(k)
    } else h.set(k, v)
  }
  if (encoded.length > 0) h.set(B64_HEADER, JSON.stringify(encoded))
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
    h: MsgHdrs | undefined,
    data: Uint8Array,
    fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
  ): Envelope | undefined {
    const record = toRecord(h)
    const ref = record[BLOB_HEADER]
    if (ref !== undefined && BLOB_REF.test(ref)) return undefined
    return fromWireHeaders(envelopeHeaders(record), data, fallback)
  }

  async decode(
    h: MsgHdrs | undefined,
    data: Uint8Array,
    fallback: { readonly id: string; readonly routingKey: string; readonly timestamp?: number },
  ): Promise<{ envelope: Envelope; record: Record<string, string> }> {
    const record = toRecord(h)
    const payload = await this.payload(record, data)
    return { envelope: fromWireHeaders(envelopeHeaders(record), payload, fallback), record }
  }
}
