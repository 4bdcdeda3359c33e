/**
 * Decode stage: size limits, the content type the subscription accepts, the
 * codec. Every failure here is permanent (DecodeFailed): retrying cannot fix it.
 */
import { byContentType, contentTypeProblem, type Codec } from "../codec.ts"
import { DecodeFailed } from "../errors.ts"
import type { Delivery } from "../transport.ts"
import { headersSize, MAX_HEADER_BYTES } from "../wire.ts"


export const decode = (codec: Codec<unknown> | undefined, delivery: Delivery, maxPayloadBytes: number): unknown => {
  const e = delivery.envelope
  if (e.payload.byteLength > maxPayloadBytes) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `payload of ${e.payload.byteLength} bytes is over the maximum of ${maxPayloadBytes}` })
  }
  const headerBytes = headersSize(e.headers)
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `headers of ${headerBytes} bytes are over the maximum of ${MAX_HEADER_BYTES}` })
  }
  const problem = codec && contentTypeProblem(codec, e.contentType)
  if (codec && problem !== undefined) {
    throw new DecodeFailed({ contentType: e.contentType, reason: `${problem}; subscription expects ${codec.contentType}` })
  }
  try {
    return (codec ?? byContentType(e.contentType)).decode(e.payload)
  } catch (err) {
    if (err instanceof DecodeFailed) throw err
    throw new DecodeFailed({ contentType: e.contentType, reason: err instanceof Error ? err.message : String(err) })
  }
}
