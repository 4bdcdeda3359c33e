/**
 * The Activity page's live feed as Server-Sent Events: the ring's rows
 * first, then every new or updated row as it happens. Each event's id is the
 * row's revision, so a browser that reconnects (EventSource does by itself)
 * sends Last-Event-ID and gets only what changed since.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { ActivityFeed, ActivityRow } from "../activity/feed.ts"

/** A comment line now and then keeps proxies and idle timeouts from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000

const lastEventId = (req: IncomingMessage): number => {
  const n = Number(req.headers["last-event-id"])
  return Number.isSafeInteger(n) && n > 0 ? n : 0
}

export class ActivityStreams {
  private readonly feed: ActivityFeed
  private readonly open = new Set<ServerResponse>()

  constructor(feed: ActivityFeed) {
    this.feed = feed
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" })
    const send = (row: ActivityRow) => res.write(`id: ${row.rev}\nevent: activity\ndata: ${JSON.stringify(row)}\n\n`)
    res.write("retry: 1000\n\n")
    for (const row of this.feed.since(lastEventId(req))) send(row)
    const unlisten = this.feed.listen(send)
    const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), KEEP_ALIVE_MS)
    this.open.add(res)
    res.once("close", () => {
      unlisten()
      clearInterval(keepAlive)
      this.open.delete(res)
      // The browser went away (a half-closed socket would otherwise stay until the server stops).
      res.destroy()
    })
  }

  /** Ends every stream (the server is closing: they would keep it open). */
  closeAll(): void {
    // Ended, then cut: a client that stopped reading would otherwise keep its socket (and the server) open.
    for (const res of this.open) res.end(() => res.destroy())
  }
}
