/**
 * Section H: observability (case 39). With `openTelemetry()` from
 * `@omnibus/core/opentelemetry` on two buses (a producer and a consumer
 * service) and the OpenTelemetry SDK's in-memory exporter and metric reader:
 * a publish and its handling form one trace through the broker, also through
 * a retry, a dead letter and its replay, an RPC round trip, and a publish
 * made inside a handler; the semantic-convention attributes and the metrics
 * are asserted.
 */
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api"
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks"
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core"
import { MeterProvider, MetricReader, type MetricData } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace"
import { PermanentError } from "@omnibus/core"
import { openTelemetry } from "@omnibus/core/opentelemetry"
import { expect } from "vitest"
import { defineCase } from "../context.ts"
import type { Suite } from "../context.ts"

/** Collects on demand (the test asks, nothing is pushed). */
class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const spanId = (s: ReadableSpan): string => s.spanContext().spanId
const traceId = (s: ReadableSpan): string => s.spanContext().traceId
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId

export const registerTracing = (suite: Suite): void => {
  defineCase(suite, 39, async (ctx) => {
    // In-process parent/child for code inside a handler needs a context manager (as in any app).
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    const exporter = new InMemorySpanExporter()
    const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })
    const reader = new OnDemandReader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] })
    const middleware = [openTelemetry({ tracerProvider, meterProvider, propagator })]
    ctx.defer(async () => {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
    })
    const producer = await ctx.connect({ middleware })
    const consumer = await ctx.connect({ middleware })
    const system = producer.transport
    const tracer = tracerProvider.getTracer("conformance")
    const spans = () => exporter.getFinishedSpans()
    const named = (name: string) => spans().filter((s) => s.name === name)

    // Group "flow": fails the first attempt of "retry" messages, dead-letters "dead" ones until replayed,
    // and publishes a follow-up from inside the handler.
    const group = ctx.group("flow")
    const followUp = ctx.key("follow", "up")
    const replayed = new Set<string>()
    let deadOnce = true
    await consumer.subscribe(ctx.key("#"), async (m) => {
      const kind = (m.payload as { kind?: string }).kind
      if (kind === "retry" && m.attempt === 1) throw new Error("first attempt fails")
      if (kind === "dead" && deadOnce) throw new PermanentError("dead until replayed")
      if (kind === "dead") replayed.add(m.id)
      if (kind === "nested") await consumer.publish(followUp, { from: m.id })
    }, { group, retry: { attempts: 3, backoff: { initial: 20, factor: 1, jitter: false } } })
    await consumer.handle(ctx.key("rpc"), (r) => ({ echo: r.payload }), { group: ctx.group("rpc") })

    /** Runs `f` inside a span of the test's own, as a caller's code would be. */
    const inRoot = async <A>(name: string, f: () => Promise<A>): Promise<{ rootId: string; traceId: string; value: A }> => {
      const root = tracer.startSpan(name)
      const value = await context.with(trace.setSpan(context.active(), root), f)
      root.end()
      return { rootId: root.spanContext().spanId, traceId: root.spanContext().traceId, value }
    }

    // 1. publish → process
    const plain = await inRoot("plain", () => producer.publish(ctx.key("plain"), { kind: "plain" }))
    const plainKey = ctx.key("plain")
    await ctx.eventually(() => named(`process ${plainKey}`).length === 1, "the process span of the plain message")
    const [pub] = named(`publish ${plainKey}`)
    const [proc] = named(`process ${plainKey}`)
    expect([pub?.kind, parentOf(pub!), traceId(pub!)], "publish span: producer, child of the caller's span").toEqual([SpanKind.PRODUCER, plain.rootId, plain.traceId])
    expect([proc?.kind, parentOf(proc!), traceId(proc!)], "process span: consumer, child of the publish span, same trace").toEqual([SpanKind.CONSUMER, spanId(pub!), plain.traceId])
    expect(pub!.attributes).toMatchObject({
      "messaging.system": system,
      "messaging.operation.name": "publish",
      "messaging.operation.type": "send",
      "messaging.destination.name": plainKey,
      "messaging.message.id": plain.value.id,
    })
    expect(pub!.attributes["messaging.message.body.size"]).toBeGreaterThan(0)
    expect(proc!.attributes).toMatchObject({
      "messaging.system": system,
      "messaging.operation.name": "process",
      "messaging.operation.type": "process",
      "messaging.destination.name": plainKey,
      "messaging.consumer.group.name": group,
      "messaging.message.id": plain.value.id,
      "omnibus.message.attempt": 1,
    })

    // 2. a retry: two process spans under the one publish, the first failed
    const retryKey = ctx.key("retry")
    const retried = await inRoot("retry", () => producer.publish(retryKey, { kind: "retry" }))
    await ctx.eventually(() => named(`process ${retryKey}`).length === 2, "both attempts' process spans")
    const [retryPub] = named(`publish ${retryKey}`)
    const attempts = named(`process ${retryKey}`).sort((a, b) => Number(a.attributes["omnibus.message.attempt"]) - Number(b.attributes["omnibus.message.attempt"]))
    expect(attempts.map((s) => [parentOf(s), traceId(s), s.attributes["omnibus.message.attempt"], s.status.code]), "each attempt a child of the publish").toEqual([
      [spanId(retryPub!), retried.traceId, 1, SpanStatusCode.ERROR],
      [spanId(retryPub!), retried.traceId, 2, SpanStatusCode.UNSET],
    ])
    expect(attempts[0]!.attributes["error.type"]).toBe("Error")

    // 3. a dead letter, then its replay: the replayed run is in the original trace
    const deadKey = ctx.key("dead")
    const dead = await inRoot("dead", () => producer.publish(deadKey, { kind: "dead" }))
    await ctx.eventually(async () => (await producer.deadLetters.list(group)).some((d) => d.id === dead.value.id), "the dead letter")
    deadOnce = false
    expect(await producer.deadLetters.replay(group, { ids: [dead.value.id] })).toBe(1)
    await ctx.eventually(() => replayed.has(dead.value.id) && named(`process ${deadKey}`).length === 2, "the replayed message handled")
    const [deadPub] = named(`publish ${deadKey}`)
    expect(named(`process ${deadKey}`).map((s) => [parentOf(s), traceId(s)]), "the failed run and the replayed run, both under the publish").toEqual([
      [spanId(deadPub!), dead.traceId],
      [spanId(deadPub!), dead.traceId],
    ])
    expect(named(`process ${deadKey}`)[0]!.attributes["error.type"]).toBe("PermanentError")

    // 4. a publish inside a handler continues the trace
    const nestedKey = ctx.key("nested")
    const nested = await inRoot("nested", () => producer.publish(nestedKey, { kind: "nested" }))
    await ctx.eventually(() => named(`process ${followUp}`).length === 1, "the follow-up handled")
    const [nestedProc] = named(`process ${nestedKey}`)
    const [followPub] = named(`publish ${followUp}`)
    const [followProc] = named(`process ${followUp}`)
    expect([parentOf(followPub!), traceId(followPub!)], "a publish in a handler is a child of its process span").toEqual([spanId(nestedProc!), nested.traceId])
    expect([parentOf(followProc!), traceId(followProc!)]).toEqual([spanId(followPub!), nested.traceId])

    // 5. RPC: client span → server span, one trace
    const method = ctx.key("rpc")
    const rpc = await inRoot("rpc", () => producer.request(method, { n: 1 }, { timeout: "10 seconds" }))
    expect(rpc.value).toEqual({ echo: { n: 1 } })
    await ctx.eventually(() => named(`process ${method}`).length === 1, "the server span")
    const [client] = named(`send ${method}`)
    const [server] = named(`process ${method}`)
    expect([client?.kind, parentOf(client!), traceId(client!)], "client span under the caller").toEqual([SpanKind.CLIENT, rpc.rootId, rpc.traceId])
    expect([server?.kind, parentOf(server!), traceId(server!)], "server span under the client span").toEqual([SpanKind.SERVER, spanId(client!), rpc.traceId])
    expect(server!.attributes).toMatchObject({ "messaging.system": system, "messaging.destination.name": method, "messaging.consumer.group.name": ctx.group("rpc") })

    // Metrics, from the same middleware
    const { resourceMetrics } = await reader.collect()
    const all: Array<MetricData> = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
    const total = (name: string, where: (a: Record<string, unknown>) => boolean = () => true): number =>
      all.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>)
        .filter((p) => where(p.attributes))
        .reduce((n, p) => n + (typeof p.value === "number" ? p.value : (p.value as { count: number }).count), 0)
    expect(total("messaging.client.sent.messages"), "sent: plain, retry, dead, nested, follow-up").toBe(5)
    expect(total("messaging.client.consumed.messages"), "consumed: 1 + 2 + 2 + 1 + 1").toBe(7)
    expect(total("messaging.process.duration", (a) => a["messaging.consumer.group.name"] === group)).toBe(7)
    expect(total("messaging.client.operation.duration", (a) => a["messaging.destination.name"] === method), "the RPC's duration").toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "retry")).toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "dead-letter" && a["error.type"] === "PermanentError")).toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "handled")).toBe(5)
  })
}
