/**
 * Rails-style flash: a message stored for the next page only. The cookie
 * carries a random id, never the text, so nobody can inject a message.
 */
import { randomBytes } from "node:crypto"

const COOKIE = "employee_flash"
const TTL_MS = 60_000

export class FlashStore {
  private readonly messages = new Map<string, { readonly text: string; readonly expires: number }>()

  /** Stores a message and returns the Set-Cookie header value that points at it. */
  set(text: string): string {
    this.prune()
    const id = randomBytes(16).toString("hex")
    this.messages.set(id, { text, expires: Date.now() + TTL_MS })
    return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${TTL_MS / 1000}`
  }

  /** Reads and forgets the message of this request, with the header that clears the cookie. */
  take(cookies: ReadonlyMap<string, string>): { readonly text: string | undefined; readonly clear: string | undefined } {
    const id = cookies.get(COOKIE)
    if (id === undefined) return { text: undefined, clear: undefined }
    const m = this.messages.get(id)
    this.messages.delete(id)
    return { text: m !== undefined && m.expires > Date.now() ? m.text : undefined, clear: `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` }
  }

  private prune(): void {
    const now = Date.now()
    for (const [id, m] of this.messages) if (m.expires <= now) this.messages.delete(id)
  }
}
