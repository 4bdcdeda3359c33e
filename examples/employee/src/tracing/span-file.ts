/**
 * A span exporter that needs no backend: one JSON line per finished span,
 * appended to a file of its own per component (`<dir>/<component>-<pid>.jsonl`).
 * A line holds what rebuilding a trace across processes takes: the ids and
 * the parent, the name and kind, the service (from the span's resource) and
 * the attributes. The browser test reads these files (test/tracing.test.ts);
 * `jq` reads them too.
 */
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { SpanKind, SpanStatusCode, type Attributes } from "@opentelemetry/api"
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from "@opentelemetry/core"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace"

export interface SpanLine {
  readonly traceId: string
  readonly spanId: string
  /** Absent on a trace's root span. */
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: keyof typeof SpanKind
  /** The resource's service.name: web, employee-service, audit, payroll. */
  readonly service: string
  /** The resource's service.instance.id: payroll-1, payroll-2, … */
  readonly instance: string
  /** Milliseconds since the epoch. */
  readonly startTime: number
  readonly durationMs: number
  readonly status: keyof typeof SpanStatusCode
  readonly attributes: Attributes
}

export const SPAN_FILE_SUFFIX = ".jsonl"

const line = (span: ReadableSpan): SpanLine => {
  const parent = span.parentSpanContext?.spanId
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(parent === undefined ? {} : { parentSpanId: parent }),
    name: span.name,
    kind: SpanKind[span.kind] as keyof typeof SpanKind,
    service: String(span.resource.attributes["service.name"]),
    instance: String(span.resource.attributes["service.instance.id"]),
    startTime: hrTimeToMilliseconds(span.startTime),
    durationMs: hrTimeToMilliseconds(span.duration),
    status: SpanStatusCode[span.status.code] as keyof typeof SpanStatusCode,
    attributes: span.attributes,
  }
}

export class SpanFileExporter implements SpanExporter {
  readonly file: string

  /** `name` names the component (the file is `<dir>/<name>-<pid>.jsonl`). */
  constructor(dir: string, name: string) {
    mkdirSync(dir, { recursive: true })
    this.file = join(dir, `${name}-${process.pid}${SPAN_FILE_SUFFIX}`)
  }

  export(spans: Array<ReadableSpan>, done: (result: ExportResult) => void): void {
    try {
      // One append per batch; a reader polling the file may catch its last line half written, so it takes whole lines only.
      appendFileSync(this.file, spans.map((s) => `${JSON.stringify(line(s))}\n`).join(""))
      done({ code: ExportResultCode.SUCCESS })
    } catch (e) {
      done({ code: ExportResultCode.FAILED, error: e instanceof Error ? e : new Error(String(e)) })
    }
  }

  async shutdown(): Promise<void> {}
}
