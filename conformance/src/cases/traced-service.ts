/**
 * What both sides of the tracing cases (39, 40) share: an OpenTelemetry SDK
 * with the in-memory exporter and `openTelemetry()` from
 * `@omnibus/core/opentelemetry`, finished spans as plain records (they cross
 * a process boundary in case 40), and the service under trace: one
 * subscription and one RPC method, set up the same way in the test's process
 * (case 39) and in a forked child (case 40, faults/child-traced-service.ts).
 */
import { context, type Attributes, type SpanKind } from "@opentelemetry/api"
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks"
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core"
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace"
import { PermanentError, type Bus, type Middleware } from "@omnibus/core"
import { openTelemetry } from "@omnibus/core/opentelemetry"

/** A finished span as the cases compare it; `pid` is the process that recorded it. */
export interface SpanRecord {
  readonly pid: number
  readonly name: string
  readonly kind: SpanKind
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  readonly attributes: Attributes
  readonly status: number
}

export const spanRecord = (s: ReadableSpan): SpanRecord => ({
  pid: process.pid,
  name: s.name,
  kind: s.kind,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId,
  links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
  attributes: s.attributes,
  status: s.status.code,
})

/** Collects on demand (the test asks, nothing is pushed). */
class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** The in-memory exporter that also hands every finished span to `forward` (the child sends it to the parent). */
class ForwardingExporter extends InMemorySpanExporter {
  private readonly forward: (span: SpanRecord) => void

  constructor(forward: (span: SpanRecord) => void) {
    super()
    this.forward = forward
  }

  override export(spans: Array<ReadableSpan>, resultCallback: (result: ExportResult) => void): void {
    for (const s of spans) this.forward(spanRecord(s))
    super.export(spans, resultCallback)
  }
}

export interface TracingSdk {
  readonly middleware: ReadonlyArray<Middleware>
  readonly tracerProvider: TracerProvider
  readonly reader: MetricReader
  readonly propagator: CompositePropagator
  /** Spans finished in this process, in the order they ended. */
  spans(): ReadonlyArray<SpanRecord>
  shutdown(): Promise<void>
}

/**
 * One process's SDK: W3C trace context and baggage, the in-memory span
 * exporter (forwarding each span when `forward` is given), an on-demand metric
 * reader, and the Omnibus middleware on them.
 */
export const tracingSdk = (forward?: (span: SpanRecord) => void): TracingSdk => {
  // In-process parent/child for code inside a handler needs a context manager (as in any app);
  // the first registration in a process stays, later ones are refused.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const exporter = forward === undefined ? new InMemorySpanExporter() : new ForwardingExporter(forward)
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  const reader = new OnDemandReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] })
  return {
    middleware: [openTelemetry({ tracerProvider, meterProvider, propagator })],
    tracerProvider,
    reader,
    propagator,
    spans: () => exporter.getFinishedSpans().map(spanRecord),
    shutdown: async () => {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
    },
  }
}

/** The names a traced service uses (made by the case, so unique to its run). */
export interface TracedServiceNames {
  /** Subscription pattern of group `group`. */
  readonly pattern: string
  readonly group: string
  /** What a "nested" message's handler publishes. */
  readonly followUp: string
  /** The RPC method served by `rpcGroup`, answering `{ echo: payload }`. */
  readonly method: string
  readonly rpcGroup: string
}

const TRACED_RETRY = { attempts: 3, backoff: { initial: 20, factor: 1, jitter: false } } as const

/**
 * The handling side: by the payload's `kind`, "retry" fails its first attempt,
 * "dead" is dead-lettered (PermanentError) until `releaseDead()` (the case then
 * replays it), "nested" publishes a follow-up from inside its handler.
 */
export const startTracedService = async (bus: Bus, names: TracedServiceNames): Promise<{ releaseDead(): void }> => {
  let deadLettering = true
  await bus.subscribe(names.pattern, async (m) => {
    const kind = (m.payload as { kind?: string }).kind
    if (kind === "retry" && m.attempt === 1) throw new Error("first attempt fails")
    if (kind === "dead" && deadLettering) throw new PermanentError("dead until replayed")
    if (kind === "nested") await bus.publish(names.followUp, { from: m.id })
  }, { group: names.group, retry: TRACED_RETRY })
  await bus.handle(names.method, (r) => ({ echo: r.payload }), { group: names.rpcGroup })
  return { releaseDead: () => void (deadLettering = false) }
}
