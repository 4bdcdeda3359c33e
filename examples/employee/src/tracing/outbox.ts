/**
 * The trace of a write, carried through the outbox. The service writes an
 * event's outbox row inside the RPC handler (in the `process employee.create`
 * span), but the relay publishes it later, from its own loop, where no span
 * is active. So the trace context goes into the row: `storedTraceHeaders()`
 * gives the active span's W3C headers (traceparent, tracestate, baggage),
 * which the service stores with the row's other headers (service/store.ts);
 * the relay publishes the row's headers as they are; and `openTelemetry()`
 * continues a trace a message carries when no span is active. The
 * `publish employee.created` span is then a child of the RPC's server span
 * (it starts after its parent ended: the gap is the time the row waited), and
 * the audit and payroll `process` spans are its children, one trace from the
 * click on "Create Employee" to payroll's table. A span link to the writer's
 * span, the alternative, would start a trace per relay publish and leave
 * that tree to be put together by hand. With tracing off the propagator is
 * the API's no-op: no headers are stored.
 */
import { context, propagation } from "@opentelemetry/api"

/** The active trace context as message headers (none when tracing is off or no span is active). */
export const storedTraceHeaders = (): Record<string, string> => {
  const headers: Record<string, string> = {}
  propagation.inject(context.active(), headers)
  return headers
}
