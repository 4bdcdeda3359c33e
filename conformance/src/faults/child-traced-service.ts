/**
 * The handling side of conformance case 40 in its own process: the traced
 * service of cases/traced-service.ts (a subscription and an RPC method) on a
 * bus with `openTelemetry()` and an OpenTelemetry SDK of this process, whose
 * in-memory exporter sends every finished span to the parent.
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, names }.
 * Messages to the parent: { type: "ready" } | { type: "error", message } | { type: "span", span: SpanRecord }
 * | { type: "dead-released" }.
 * From the parent: { type: "release-dead" } lets "dead" messages through (before
 * their replay; answered "dead-released"); { type: "close" } closes the bus and exits.
 */
import { startTracedService, tracingSdk, type TracedServiceNames } from "../cases/traced-service.ts"
import { runChild, sendToParent, type ChildBase } from "./child-runtime.ts"

interface ChildConfig extends ChildBase {
  readonly names: TracedServiceNames
}

const sdk = tracingSdk((span) => sendToParent({ type: "span", span }))

runChild<ChildConfig>(async (bus, config) => {
  const service = await startTracedService(bus, config.names)
  process.on("message", (m: { readonly type?: string }) => {
    if (m.type === "release-dead") {
      service.releaseDead()
      sendToParent({ type: "dead-released" })
    } else if (m.type === "close") {
      void bus.close().finally(async () => {
        await sdk.shutdown()
        process.exit(0)
      })
    }
  })
}, { middleware: sdk.middleware })
