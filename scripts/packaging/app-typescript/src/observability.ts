// Middleware, a pino-shaped logger and OpenTelemetry from the packed packages, as an app writes them
// (with @opentelemetry/api installed, the optional peer of @omnibus/core/opentelemetry).
import { batchEntry, connect, defineEvent, json, type LogFields, type Logger, type Middleware } from "@omnibus/core"
import { openTelemetry } from "@omnibus/core/opentelemetry"
import { spy } from "@omnibus/core/testing"

const stamped: Middleware = {
  publish: (ctx, next) => ((ctx.headers["x-app"] = "tsapp"), next()),
  handle: async (ctx, next) => {
    const outcome = await next()
    return outcome.ok || ctx.message.routingKey !== "obs.recover" ? outcome : ctx.recover("known")
  },
}

const warnings: Array<string> = []
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (_fields: LogFields, message: string) => void warnings.push(message),
  error: (_fields: LogFields, message: string) => void warnings.push(message),
}

export const runObservability = async (url: string): Promise<void> => {
  const bus = await connect(url, { middleware: [openTelemetry(), stamped], logger })
  const noted = defineEvent("obs.noted", json)
  const s = spy<unknown>()
  await bus.subscribe("obs.*", s.handler, { group: "obs" })
  await bus.publishBatch([batchEntry(noted, { n: 1 }), { key: "obs.plain", payload: 2 }])
  await s.waitForCount(2)
  if (s.messages.some((m) => m.headers["x-app"] !== "tsapp")) throw new Error("publish middleware did not stamp the header")
  await bus.close()
}
