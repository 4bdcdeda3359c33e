/**
 * Charts for docs/benchmarks.md: Vega-Lite specs compiled to Vega and
 * rendered to SVG headlessly with vega's View.toSVG() (no browser, no canvas).
 */
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"

export const renderSvg = async (spec: TopLevelSpec): Promise<string> => {
  const { spec: compiled } = compile(spec)
  const view = new vega.View(vega.parse(compiled), { renderer: "none" })
  const svg = await view.toSVG()
  view.finalize()
  return svg
}

const COLORS = { domain: ["omnibus", "amqplib", "nats.js", "ioredis", "kafkajs", "platformatic-kafka", "moleculer"], range: ["#1f6feb", "#8c959f", "#6e7781", "#57606a", "#8c959f", "#424a53", "#d4a72c"] }

export interface BarRow {
  readonly broker: string
  readonly workload: string
  readonly contender: string
  readonly median: number
  readonly min: number
  readonly max: number
}

/** Grouped bars with min–max error bars, one panel per broker (independent y scales). */
export const groupedBars = (rows: ReadonlyArray<BarRow>, opts: { title: string; yTitle: string; log?: boolean; workloads: ReadonlyArray<string> }): TopLevelSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: opts.title,
  data: { values: rows as Array<BarRow> },
  facet: { row: { field: "broker", type: "nominal", title: null, header: { labelAngle: 0, labelAlign: "left", labelFontWeight: "bold" } } },
  resolve: { scale: { y: "independent" } },
  spec: {
    width: 560,
    height: 150,
    encoding: {
      x: { field: "workload", type: "nominal", sort: [...opts.workloads], title: null, axis: { labelAngle: 0 } },
      xOffset: { field: "contender", type: "nominal", sort: COLORS.domain },
    },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: { field: "median", type: "quantitative", title: opts.yTitle, scale: opts.log ? { type: "log" } : { zero: true } },
          color: { field: "contender", type: "nominal", scale: COLORS, legend: { orient: "top", title: null } },
          tooltip: [{ field: "contender" }, { field: "median", format: ",.0f" }],
        },
      },
      {
        mark: { type: "rule", color: "black" },
        encoding: { y: { field: "min", type: "quantitative" }, y2: { field: "max" } },
      },
    ],
  },
})

export interface RatioRow {
  readonly broker: string
  readonly measure: string
  readonly versus: string
  readonly ratio: number
}

/** Omnibus ÷ other, per measure, with the target drawn as a rule. */
export const ratioChart = (rows: ReadonlyArray<RatioRow>, opts: { title: string; target: number; measures: ReadonlyArray<string>; xTitle: string }): TopLevelSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: opts.title,
  data: { values: rows as Array<RatioRow> },
  facet: { column: { field: "versus", type: "nominal", title: null, sort: ["raw client", "peer (Moleculer)"] } },
  spec: {
    width: 300,
    height: 22 * opts.measures.length * 4 + 20,
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: { field: "measure", type: "nominal", sort: [...opts.measures], title: null },
          yOffset: { field: "broker", type: "nominal" },
          x: { field: "ratio", type: "quantitative", title: opts.xTitle, scale: { type: "log" } },
          color: { field: "broker", type: "nominal", legend: { orient: "top", title: null } },
        },
      },
      { mark: { type: "rule", color: "#cf222e", strokeDash: [4, 3] }, encoding: { x: { datum: opts.target } } },
    ],
  },
})

export interface LatencyRow {
  readonly broker: string
  readonly contender: string
  readonly percentile: string
  readonly ms: number
}

export const latencyChart = (rows: ReadonlyArray<LatencyRow>, title: string): TopLevelSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title,
  data: { values: rows as Array<LatencyRow> },
  facet: { column: { field: "percentile", type: "nominal", title: null } },
  spec: {
    width: 260,
    height: 240,
    mark: { type: "bar" },
    encoding: {
      x: { field: "broker", type: "nominal", title: null, axis: { labelAngle: 0 } },
      xOffset: { field: "contender", type: "nominal", sort: COLORS.domain },
      y: { field: "ms", type: "quantitative", title: "milliseconds (log)", scale: { type: "log" } },
      color: { field: "contender", type: "nominal", scale: COLORS, legend: { orient: "top", title: null } },
    },
  },
})

export interface MemoryRow {
  readonly broker: string
  readonly contender: string
  readonly backlog: string
  readonly mib: number
}

export const memoryChart = (rows: ReadonlyArray<MemoryRow>, title: string): TopLevelSpec => ({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title,
  data: { values: rows as Array<MemoryRow> },
  facet: { column: { field: "broker", type: "nominal", title: null } },
  spec: {
    width: 150,
    height: 220,
    mark: { type: "bar" },
    encoding: {
      x: { field: "contender", type: "nominal", title: null, sort: COLORS.domain, axis: { labelAngle: -30 } },
      xOffset: { field: "backlog", type: "nominal" },
      y: { field: "mib", type: "quantitative", title: "consumer peak RSS (MiB)" },
      color: { field: "backlog", type: "nominal", title: "backlog", legend: { orient: "top" } },
    },
  },
})
