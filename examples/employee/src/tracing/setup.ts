/**
 * Tracing, when the config turns it on (PlatformConfig.tracing: "console",
 * or "file:<dir>" for one JSON line per span). Once per process: the
 * AsyncLocalStorage context manager (so a publish or RPC inside a handler or
 * an HTTP request is a child of its span) and the W3C trace-context and
 * baggage propagators, registered globally. Per component: a TracerProvider
 * whose resource names the service (web, employee-service, audit, payroll),
 * passed to `openTelemetry()` from `@omnibus/core/opentelemetry` on each of
 * the component's buses. A provider per component rather than one global
 * one, because all-memory runs every component in one process and its spans
 * must still say which component made them.
 *
 * Off (the default), nothing is registered and no bus gets middleware: the
 * OpenTelemetry API keeps its no-op globals.
 */
import { context, propagation, type Tracer } from "@opentelemetry/api"
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks"
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core"
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources"
import { ConsoleSpanExporter, SimpleSpanProcessor, TracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace"
import type { Middleware } from "@omnibus/core"
import { openTelemetry } from "@omnibus/core/opentelemetry"
import type { TracingSetting } from "../config.ts"
import { SpanFileExporter } from "./span-file.ts"

/** The service names spans carry (resource attribute service.name). */
export type ServiceName = "web" | "employee-service" | "audit" | "payroll"

/** Which component a connection or span belongs to: the service, and the instance ("payroll-2"). */
export interface ComponentIdentity {
  readonly service: ServiceName
  readonly instance: string
}

export interface ComponentTracing {
  /** For spans of the component's own (the web app's HTTP requests); undefined when tracing is off. */
  readonly tracer: Tracer | undefined
  /** For every bus the component connects: empty when tracing is off. */
  readonly middleware: ReadonlyArray<Middleware>
  /** Exports what is left and stops; after the component's buses are closed. */
  shutdown(): Promise<void>
}

const OFF: ComponentTracing = { tracer: undefined, middleware: [], shutdown: async () => {} }

let registered = false

/** The process-wide part, once: context manager and propagators. */
const registerGlobals = (): void => {
  if (registered) return
  registered = true
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
}

const exporterFor = (setting: TracingSetting, component: ComponentIdentity): SpanExporter =>
  setting.exporter === "console" ? new ConsoleSpanExporter() : new SpanFileExporter(setting.dir, component.instance)

export const startTracing = (setting: TracingSetting | undefined, component: ComponentIdentity): ComponentTracing => {
  if (setting === undefined) return OFF
  registerGlobals()
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": component.service, "service.instance.id": component.instance })),
    // Each span is exported when it ends (for a backend, a BatchSpanProcessor: docs/employee-example.md#tracing).
    spanProcessors: [new SimpleSpanProcessor({ exporter: exporterFor(setting, component) })],
  })
  return {
    tracer: provider.getTracer("@omnibus/example-employee"),
    // The stored-trace hook first, so that the publish span openTelemetry() starts has the stored parent.
    middleware: [openTelemetry({ tracerProvider: provider })],
    shutdown: () => provider.shutdown(),
  }
}
