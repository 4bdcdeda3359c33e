/**
 * Section H: observability, with `openTelemetry()` from
 * `@omnibus/core/opentelemetry` and the OpenTelemetry SDK's in-memory span
 * exporter (traced-service.ts). A publish and its handling form one trace
 * through the broker, also through a retry, a dead letter and its replay, a
 * publish made inside a handler and an RPC round trip, with the
 * semantic-convention attributes:
 *
 * - case 39: producer and consumer buses in the test's process; also a
 *   publish carrying a stored trace context (an outbox relay) and the metrics;
 * - case 40: the handling side (subscription and RPC server) in a forked
 *   child process with an SDK of its own, whose finished spans come back over
 *   IPC (faults/child-traced-service.ts): the trace crosses processes as it
 *   does between services.
 */
import { context, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api"
import type { MetricData } from "@opentelemetry/sdk-metrics"
import type { Bus } from "@omnibus/core"
import { expect } from "vitest"
import { defineCase } from "../context.ts"
import type { CaseContext, Suite } from "../context.ts"
import { forkChild } from "../faults/fork-child.ts"
import { startTracedService, tracingSdk, type SpanRecord, type TracedServiceNames } from "./traced-service.ts"

const tracedNames = (ctx: CaseContext): TracedServiceNames => ({
  pattern: ctx.key("#"),
  group: ctx.group("flow"),
  followUp: ctx.key("follow", "up"),
  method: ctx.key("rpc"),
  rpcGroup: ctx.group("rpc"),
})

/** One run of the traced flows: the publishing side is this process, the handling side `handlerPid`. */
interface TraceRun {
  readonly producer: Bus
  readonly tracer: Tracer
  readonly names: TracedServiceNames
  readonly handlerPid: number
  /** Every span finished so far, of both sides. */
  spans(): ReadonlyArray<SpanRecord>
  /** Lets "dead" messages through; resolves once the handling side will. */
  releaseDead(): Promise<void>
}

/** Publish → process, a retry, a dead letter + replay, a nested publish and RPC: the spans, their relations and attributes. */
const checkTraces = async (ctx: CaseContext, run: TraceRun): Promise<void> => {
  const { producer, tracer, names } = run
  const system = producer.transport
  const here = process.pid
  const there = run.handlerPid
  const named = (name: string) => run.spans().filter((s) => s.name === name)

  /** Runs `f` inside a span of the test's own, as a caller's code would be. */
  const inRoot = async <A>(name: string, f: () => Promise<A>): Promise<{ rootId: string; traceId: string; value: A }> => {
    const root = tracer.startSpan(name)
    const value = await context.with(trace.setSpan(context.active(), root), f)
    root.end()
    return { rootId: root.spanContext().spanId, traceId: root.spanContext().traceId, value }
  }

  // 1. publish → process
  const plainKey = ctx.key("plain")
  const plain = await inRoot("plain", () => producer.publish(plainKey, { kind: "plain" }))
  await ctx.eventually(() => named(`process ${plainKey}`).length === 1, "the process span of the plain message")
  const [pub] = named(`publish ${plainKey}`)
  const [proc] = named(`process ${plainKey}`)
  expect([pub?.pid, pub?.kind, pub?.parentSpanId, pub?.traceId], "publish span: producer, in the publishing process, child of the caller's span").toEqual([here, SpanKind.PRODUCER, plain.rootId, plain.traceId])
  expect([proc?.pid, proc?.kind, proc?.parentSpanId, proc?.traceId], "process span: consumer, in the handling process, child of the publish span, same trace").toEqual([there, SpanKind.CONSUMER, pub?.spanId, plain.traceId])
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
    "messaging.consumer.group.name": names.group,
    "messaging.message.id": plain.value.id,
    "omnibus.message.attempt": 1,
  })
  expect(proc!.attributes["messaging.message.body.size"]).toBe(pub!.attributes["messaging.message.body.size"])

  // 2. a retry: two process spans under the one publish, the first failed
  const retryKey = ctx.key("retry")
  const retried = await inRoot("retry", () => producer.publish(retryKey, { kind: "retry" }))
  await ctx.eventually(() => named(`process ${retryKey}`).length === 2, "both attempts' process spans")
  const [retryPub] = named(`publish ${retryKey}`)
  const attempts = named(`process ${retryKey}`).sort((a, b) => Number(a.attributes["omnibus.message.attempt"]) - Number(b.attributes["omnibus.message.attempt"]))
  expect(attempts.map((s) => [s.pid, s.parentSpanId, s.traceId, s.attributes["omnibus.message.attempt"], s.status]), "each attempt a child of the publish").toEqual([
    [there, retryPub?.spanId, retried.traceId, 1, SpanStatusCode.ERROR],
    [there, retryPub?.spanId, retried.traceId, 2, SpanStatusCode.UNSET],
  ])
  expect(attempts[0]!.attributes["error.type"]).toBe("Error")

  // 3. a dead letter, then its replay: the replayed run is in the original trace, under the original publish
  const deadKey = ctx.key("dead")
  const dead = await inRoot("dead", () => producer.publish(deadKey, { kind: "dead" }))
  await ctx.eventually(async () => (await producer.deadLetters.list(names.group)).some((d) => d.id === dead.value.id), "the dead letter")
  await run.releaseDead()
  expect(await producer.deadLetters.replay(names.group, { ids: [dead.value.id] })).toBe(1)
  await ctx.eventually(() => named(`process ${deadKey}`).length === 2, "the replayed message handled")
  const [deadPub] = named(`publish ${deadKey}`)
  const deadRuns = named(`process ${deadKey}`)
  expect(deadRuns.map((s) => [s.pid, s.parentSpanId, s.traceId, s.links, s.attributes["messaging.message.id"]]), "the failed run and the replayed run, both children of the publish (no links)").toEqual([
    [there, deadPub?.spanId, dead.traceId, [], dead.value.id],
    [there, deadPub?.spanId, dead.traceId, [], dead.value.id],
  ])
  expect(deadRuns.map((s) => [s.status, s.attributes["error.type"]])).toEqual([[SpanStatusCode.ERROR, "PermanentError"], [SpanStatusCode.UNSET, undefined]])

  // 4. a publish inside a handler continues the trace (in the handling process)
  const nestedKey = ctx.key("nested")
  const nested = await inRoot("nested", () => producer.publish(nestedKey, { kind: "nested" }))
  await ctx.eventually(() => named(`process ${names.followUp}`).length === 1, "the follow-up handled")
  const [nestedProc] = named(`process ${nestedKey}`)
  const [followPub] = named(`publish ${names.followUp}`)
  const [followProc] = named(`process ${names.followUp}`)
  expect([followPub?.pid, followPub?.parentSpanId, followPub?.traceId], "a publish in a handler is a child of its process span").toEqual([there, nestedProc?.spanId, nested.traceId])
  expect([followProc?.parentSpanId, followProc?.traceId]).toEqual([followPub?.spanId, nested.traceId])

  // 5. RPC: client span → server span → the reply, one trace
  const rpc = await inRoot("rpc", () => producer.request(names.method, { n: 1 }, { timeout: "10 seconds" }))
  expect(rpc.value, "the reply").toEqual({ echo: { n: 1 } })
  await ctx.eventually(() => named(`process ${names.method}`).length === 1, "the server span")
  const [client] = named(`send ${names.method}`)
  const [server] = named(`process ${names.method}`)
  expect([client?.pid, client?.kind, client?.parentSpanId, client?.traceId], "client span under the caller").toEqual([here, SpanKind.CLIENT, rpc.rootId, rpc.traceId])
  expect([server?.pid, server?.kind, server?.parentSpanId, server?.traceId], "server span, in the serving process, under the client span").toEqual([there, SpanKind.SERVER, client?.spanId, rpc.traceId])
  expect(client!.attributes).toMatchObject({ "messaging.system": system, "messaging.operation.name": "send", "messaging.destination.name": names.method })
  expect(server!.attributes).toMatchObject({
    "messaging.system": system,
    "messaging.operation.name": "process",
    "messaging.destination.name": names.method,
    "messaging.consumer.group.name": names.rpcGroup,
    "messaging.message.id": client!.attributes["messaging.message.id"],
    "messaging.message.conversation_id": client!.attributes["messaging.message.id"],
  })
}

export const registerTracing = (suite: Suite): void => {
  defineCase(suite, 39, async (ctx) => {
    const sdk = tracingSdk()
    ctx.defer(() => sdk.shutdown())
    const producer = await ctx.connect({ middleware: sdk.middleware })
    const consumer = await ctx.connect({ middleware: sdk.middleware })
    const tracer = sdk.tracerProvider.getTracer("conformance")
    const names = tracedNames(ctx)
    const service = await startTracedService(consumer, names)
    await checkTraces(ctx, { producer, tracer, names, handlerPid: process.pid, spans: sdk.spans, releaseDead: async () => service.releaseDead() })
    const named = (name: string) => sdk.spans().filter((s) => s.name === name)

    // 6. a message that carries a trace context, published outside any span (an outbox relay):
    //    its publish continues that trace
    const storedKey = ctx.key("stored")
    const writer = tracer.startSpan("writer")
    const stored: Record<string, string> = {}
    sdk.propagator.inject(trace.setSpan(context.active(), writer), stored, { set: (c, k, v) => void (c[k] = v) })
    writer.end()
    await context.with(context.active(), () => producer.publish(storedKey, { kind: "stored" }, { headers: stored }))
    await ctx.eventually(() => named(`process ${storedKey}`).length === 1, "the stored-context message handled")
    const [storedPub] = named(`publish ${storedKey}`)
    expect([storedPub?.parentSpanId, storedPub?.traceId], "the publish continues the carried trace").toEqual([writer.spanContext().spanId, writer.spanContext().traceId])

    // Metrics, from the same middleware
    let all: Array<MetricData> = []
    const total = (name: string, where: (a: Record<string, unknown>) => boolean = () => true): number =>
      all.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>)
        .filter((p) => where(p.attributes))
        .reduce((n, p) => n + (typeof p.value === "number" ? p.value : (p.value as { count: number }).count), 0)
    // an outcome is counted once the broker took its settlement, which may come after the process span ended
    await ctx.eventually(async () => {
      all = (await sdk.reader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
      return total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "handled") >= 6
    }, "the last settlement's outcome counted")
    expect(total("messaging.client.sent.messages"), "sent: plain, retry, dead, nested, follow-up, stored").toBe(6)
    expect(total("messaging.client.consumed.messages"), "consumed: 1 + 2 + 2 + 1 + 1 + 1").toBe(8)
    expect(total("messaging.process.duration", (a) => a["messaging.consumer.group.name"] === names.group)).toBe(8)
    expect(total("messaging.client.operation.duration", (a) => a["messaging.destination.name"] === names.method), "the RPC's duration").toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "retry")).toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "dead-letter" && a["error.type"] === "PermanentError")).toBe(1)
    expect(total("omnibus.messages.outcomes", (a) => a["omnibus.outcome"] === "handled")).toBe(6)
  })

  const child = suite.harness.childProcess
  defineCase(suite, 40, async (ctx) => {
    if ("reason" in child) throw new Error("unreachable: the case is n/a without a child process")
    const sdk = tracingSdk()
    ctx.defer(() => sdk.shutdown())
    const producer = await ctx.connect({ middleware: sdk.middleware })
    const names = tracedNames(ctx)
    const childSpans: Array<SpanRecord> = []
    let deadReleased = false
    const service = forkChild(ctx, "child-traced-service", { ...child, names }, (m) => {
      if (m.type === "span") childSpans.push(m.span as SpanRecord)
      else if (m.type === "dead-released") deadReleased = true
    })
    // Runs before forkChild's kill: a graceful close leaves no consumer behind on the broker.
    ctx.defer(async () => {
      if (service.process.exitCode !== null || service.process.signalCode !== null) return
      service.process.send({ type: "close" })
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([service.exited, new Promise<void>((r) => (timer = setTimeout(r, ctx.eventuallyMs)))])
      clearTimeout(timer)
    })
    const state = () => (service.error !== undefined ? `; the child failed: ${service.error}` : service.process.exitCode !== null ? `; the child exited with ${service.process.exitCode}` : "")
    await ctx.eventually(() => service.ready || service.error !== undefined || service.process.exitCode !== null, () => `the child service ready${state()}`)
    if (!service.ready) throw new Error(`the child service did not start${state()}`)
    await checkTraces(ctx, {
      producer,
      tracer: sdk.tracerProvider.getTracer("conformance"),
      names,
      handlerPid: service.process.pid!,
      spans: () => [...sdk.spans(), ...childSpans],
      releaseDead: async () => {
        service.process.send({ type: "release-dead" })
        await ctx.eventually(() => deadReleased, () => `the child letting dead messages through${state()}`)
      },
    })
  }, "reason" in child ? { notApplicable: child.reason } : {})
}
