/** One request as the routes see it: what was asked, and the ways to answer (server.ts builds it). */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { SafeHtml } from "./html.ts"
import { notFound } from "./http-error.ts"
import type { PageContext } from "./views.ts"

export interface Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly method: string
  readonly path: string
  readonly url: URL
  readonly ctx: PageContext
  send(status: number, page: SafeHtml): void
  /** 303 to `location`, with a flash notice for the next page. */
  redirect(location: string, notice?: string): void
  /** The form body, once its CSRF token is checked (422 otherwise). */
  postedForm(): Promise<URLSearchParams>
}

/** A percent-encoded path segment; one that does not decode is no page of ours. */
export const decodeSegment = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    throw notFound()
  }
}
