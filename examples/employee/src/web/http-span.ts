/**
 * With tracing on, a SERVER span per HTTP request: a span made by hand (no
 * auto-instrumentation), named `<method> <route>` as the HTTP semantic
 * conventions say (`POST /employees`, `GET /employees/{guid}`), continuing a
 * W3C trace context the request brings, and active while the app handles
 * the request, so the RPCs it makes (`send employee.create`) are its
 * children: a trace starts at the web. The span ends when the response is
 * done or its connection closes (the Activity page's event stream lasts as
 * long as the page is open).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api"

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>

/**
 * `handle` inside a span of `tracer` (as is when tracing is off). `routeOf` gives a path's route template,
 * or undefined when no route serves it (then the span is named by the method alone).
 */
export const traced = (tracer: Tracer | undefined, routeOf: (path: string) => string | undefined, handle: Handler): Handler => {
  if (tracer === undefined) return handle
  return (req, res) => {
    const method = req.method ?? "GET"
    const path = (req.url ?? "/").split("?")[0]!
    const route = routeOf(path)
    const parent = propagation.extract(ROOT_CONTEXT, req.headers)
    const span = tracer.startSpan(route === undefined ? method : `${method} ${route}`, {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": method, "url.scheme": "http", "url.path": path, ...(route === undefined ? {} : { "http.route": route }) },
    }, parent)
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode)
      // For a server span only 5xx is an error (a 404 or 422 is the server working as it should).
      if (res.statusCode >= 500) {
        span.setAttribute("error.type", String(res.statusCode))
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
      span.end()
    })
    return context.with(trace.setSpan(parent, span), () => handle(req, res))
  }
}
