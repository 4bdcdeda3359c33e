/** Reading what a browser sent: cookies and url-encoded form bodies (bounded). */
import type { IncomingMessage } from "node:http"

export const parseCookies = (header: string | undefined): Map<string, string> => {
  const out = new Map<string, string>()
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=")
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim())
  }
  return out
}

export class BodyTooLarge extends Error {}

/** Reads an application/x-www-form-urlencoded body of at most `limit` bytes. */
export const readForm = async (req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams> => {
  const chunks: Array<Buffer> = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new BodyTooLarge(`form body over ${limit} bytes`)
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"))
}
