/**
 * `@omnibus/core/opentelemetry`: tracing and metrics as a middleware, on the
 * OpenTelemetry API only (the application brings the SDK):
 *
 *   const bus = await connect(url, { middleware: [openTelemetry()] })
 *
 * Trace context (W3C `traceparent`/`tracestate`, and baggage, with the SDK's
 * default propagators) travels in the message headers, so it crosses every
 * broker and survives retries, dead letters and replays, which keep a
 * message's headers. Span names and attributes follow the OpenTelemetry
 * messaging semantic conventions: `publish <routing key>` (producer),
 * `process <routing key>` (consumer, child of the publish), `send <method>`
 * (client) and `process <method>` (server) for RPC.
 */
import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type TracerProvider,
} from "@opentelemetry/api"
import { describeError } from "./errors.ts"
import type { Middleware } from "./middleware.ts"

export interface OpenTelemetryOptions {
  /** Default: the global tracer provider. */
  readonly tracerProvider?: TracerProvider
  /** Default: the global meter provider. */
  readonly meterProvider?: MeterProvider
  /** Default: the global propagator (W3C trace context and baggage once an SDK is registered). */
  readonly propagator?: TextMapPropagator
}

const SCOPE = "@omnibus/core"

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value
  },
}

const getter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
}

const seconds = (since: number): number => (performance.now() - since) / 1_000

/** The attributes every span and metric of one operation shares (metrics take the low-cardinality part). */
const operation = (system: string, name: "publish" | "process" | "send", destination: string, group?: string): Attributes => ({
  "messaging.system": system,
  "messaging.operation.name": name,
  "messaging.destination.name": destination,
  ...(group === undefined ? {} : { "messaging.consumer.group.name": group }),
})

/** Span attributes of an outgoing message: the operation plus the message's identity and size. */
const sendAttributes = (system: string, name: "publish" | "send", destination: string, id: string, bodySize: number, correlationId: string | undefined): Attributes => ({
  ...operation(system, name, destination),
  "messaging.operation.type": "send",
  "messaging.message.id": id,
  "messaging.message.body.size": bodySize,
  ...(correlationId === undefined ? {} : { "messaging.message.conversation_id": correlationId }),
})

/** Span attributes of a handler or server run: the operation plus the message's identity. */
const processAttributes = (system: string, destination: string, group: string, id: string, correlationId: string | undefined): Attributes => ({
  ...operation(system, "process", destination, group),
  "messaging.operation.type": "process",
  "messaging.message.id": id,
  ...(correlationId === undefined ? {} : { "messaging.message.conversation_id": correlationId }),
})

/** Ends a span as failed, with the error's name as `error.type`. */
const failSpan = (span: Span, error: unknown): string => {
  const name = describeError(error).name
  span.setAttribute("error.type", name)
  if (error instanceof Error) span.recordException(error)
  span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error).message })
  return name
}

export const openTelemetry = (options: OpenTelemetryOptions = {}): Middleware => {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE)
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE)
  const propagator: Pick<TextMapPropagator, "inject" | "extract"> = options.propagator ?? propagation
  const operationDuration = meter.createHistogram("messaging.client.operation.duration", { unit: "s", description: "Duration of a publish or request, until the broker confirmed it or the reply arrived" })
  const sent = meter.createCounter("messaging.client.sent.messages", { unit: "{message}", description: "Messages a producer attempted to send" })
  const consumed = meter.createCounter("messaging.client.consumed.messages", { unit: "{message}", description: "Messages delivered to a handler" })
  const processDuration = meter.createHistogram("messaging.process.duration", { unit: "s", description: "Duration of a handler run, middleware included" })
  const outcomes = meter.createCounter("omnibus.messages.outcomes", { unit: "{message}", description: "Settled outcomes by type: handled, retry, dead-letter, dropped, duplicate, released; poison is a dead letter with error.type RedeliveriesExhausted" })
  const active = meter.createUpDownCounter("omnibus.handlers.active", { unit: "{handler}", description: "Handlers running now" })

  /** A span for an outgoing message (publish, request) whose context travels in the message's headers. */
  const outgoing = async <R>(
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    headers: Record<string, string>,
    metricAttributes: Attributes,
    next: () => Promise<R>,
    count?: (attributes: Attributes) => void,
  ): Promise<R> => {
    const span = tracer.startSpan(name, { kind, attributes }, context.active())
    const spanContext = trace.setSpan(context.active(), span)
    propagator.inject(spanContext, headers, setter)
    const started = performance.now()
    let measured = metricAttributes
    try {
      return await context.with(spanContext, next)
    } catch (e) {
      measured = { ...metricAttributes, "error.type": failSpan(span, e) }
      throw e
    } finally {
      span.end()
      operationDuration.record(seconds(started), measured)
      count?.(measured)
    }
  }

  return {
    name: "opentelemetry",

    publish: async (ctx, next) => {
      const attributes: Attributes = {
        ...sendAttributes(ctx.system, "publish", ctx.routingKey, ctx.id, ctx.bodySize, ctx.correlationId),
        ...(ctx.key === undefined ? {} : { "omnibus.message.key": ctx.key }),
      }
      return outgoing(`publish ${ctx.routingKey}`, SpanKind.PRODUCER, attributes, ctx.headers, operation(ctx.system, "publish", ctx.routingKey), next, (a) => sent.add(1, a))
    },

    handle: async (ctx, next) => {
      const m = ctx.message
      // The parent is the publish that made the message, never whatever ran before in this process.
      const parent: Context = propagator.extract(ROOT_CONTEXT, m.headers, getter)
      const attributes: Attributes = {
        ...processAttributes(ctx.system, m.routingKey, ctx.group, m.id, m.correlationId),
        "messaging.message.body.size": m.body.byteLength,
        "omnibus.message.attempt": m.attempt,
        "omnibus.message.redeliveries": m.redeliveries,
      }
      const span = tracer.startSpan(`process ${m.routingKey}`, { kind: SpanKind.CONSUMER, attributes }, parent)
      const metricAttributes = operation(ctx.system, "process", m.routingKey, ctx.group)
      const started = performance.now()
      consumed.add(1, metricAttributes)
      active.add(1, metricAttributes)
      try {
        const outcome = await context.with(trace.setSpan(parent, span), next)
        const errorType = outcome.ok ? undefined : failSpan(span, outcome.error)
        processDuration.record(seconds(started), errorType === undefined ? metricAttributes : { ...metricAttributes, "error.type": errorType })
        return outcome
      } finally {
        active.add(-1, metricAttributes)
        span.end()
      }
    },

    request: async (ctx, next) => {
      // the request's id is the conversation's: the reply carries it as its correlation id
      const attributes = sendAttributes(ctx.system, "send", ctx.method, ctx.id, ctx.bodySize, ctx.id)
      return outgoing(`send ${ctx.method}`, SpanKind.CLIENT, attributes, ctx.headers, operation(ctx.system, "send", ctx.method), next)
    },

    serve: async (ctx, next) => {
      const r = ctx.request
      const parent = propagator.extract(ROOT_CONTEXT, r.headers, getter)
      const attributes = processAttributes(ctx.system, r.method, ctx.group, r.id, r.correlationId)
      const span = tracer.startSpan(`process ${r.method}`, { kind: SpanKind.SERVER, attributes }, parent)
      const metricAttributes = operation(ctx.system, "process", r.method, ctx.group)
      const started = performance.now()
      active.add(1, metricAttributes)
      try {
        const response = await context.with(trace.setSpan(parent, span), next)
        processDuration.record(seconds(started), metricAttributes)
        return response
      } catch (e) {
        processDuration.record(seconds(started), { ...metricAttributes, "error.type": failSpan(span, e) })
        throw e
      } finally {
        active.add(-1, metricAttributes)
        span.end()
      }
    },

    observe: (event) => {
      outcomes.add(1, {
        "omnibus.outcome": event.type,
        "messaging.consumer.group.name": event.group,
        "messaging.destination.name": event.routingKey,
        ...(event.error === undefined ? {} : { "error.type": describeError(event.error).name }),
      })
    },
  }
}
