/**
 * Cross-site request forgery protection, as Rails forms have it: a random
 * token in a SameSite cookie that every form posts back in a hidden field.
 */
import { randomBytes, timingSafeEqual } from "node:crypto"

export const CSRF_COOKIE = "employee_csrf"
export const CSRF_FIELD = "authenticity_token"

/** The token of this browser, and the Set-Cookie header when it is new. */
export const csrfToken = (cookies: ReadonlyMap<string, string>): { readonly token: string; readonly setCookie: string | undefined } => {
  const existing = cookies.get(CSRF_COOKIE)
  if (existing !== undefined && /^[0-9a-f]{32}$/.test(existing)) return { token: existing, setCookie: undefined }
  const token = randomBytes(16).toString("hex")
  return { token, setCookie: `${CSRF_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict` }
}

export const csrfValid = (cookies: ReadonlyMap<string, string>, form: URLSearchParams): boolean => {
  const a = cookies.get(CSRF_COOKIE)
  const b = form.get(CSRF_FIELD)
  if (a === undefined || b === null || a.length !== b.length) return false
  return timingSafeEqual(Buffer.from(a), Buffer.from(b))
}
