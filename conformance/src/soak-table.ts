/**
 * Prints the soak table from conformance/results/soak/*.json (the last soak run
 * of each broker): `node conformance/src/soak-table.ts` (Node >= 22.18).
 * Erasable syntax and `.ts` imports only.
 */
import { readdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { RunResults } from "./results.ts"

const dir = fileURLToPath(new URL("../results/soak/", import.meta.url))
const ORDER = ["memory", "rabbitmq", "nats", "kafka", "redis"]

interface Row {
  readonly broker: string
  readonly status: string
  readonly cells: ReadonlyArray<string>
}

const num = (v: unknown, digits = 0): string => (typeof v === "number" ? v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–")

const main = async (): Promise<void> => {
  let files: Array<string> = []
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".json") && !f.endsWith(".partial.json"))
  } catch {
    console.log("no soak results yet (conformance/results/soak/)")
    return
  }
  const rows: Array<Row> = []
  for (const f of files) {
    const run = JSON.parse(await readFile(`${dir}${f}`, "utf8")) as RunResults
    const c = run.cases[0]
    if (!c) continue
    const m = c.metrics ?? {}
    rows.push({
      broker: run.adapter,
      status: c.status,
      cells: [
        run.adapter,
        num(m.messages),
        num(m.deliveries),
        typeof m.durationMs === "number" ? `${(m.durationMs / 1000).toFixed(1)} s` : "–",
        num(m.msgPerSec),
        typeof m.heapStartMiB === "number" ? `${m.heapStartMiB.toFixed(1)} MiB` : "–",
        typeof m.heapEndMiB === "number" ? `${m.heapEndMiB.toFixed(1)} MiB` : "–",
        typeof m.rssPeakMiB === "number" ? `${m.rssPeakMiB.toFixed(1)} MiB` : "–",
        c.status === "pass" ? "pass" : `${c.status}: ${c.reason ?? ""}`.slice(0, 80),
        run.runAt,
      ],
    })
  }
  const rank = (b: string) => {
    const i = ORDER.indexOf(b.split(/[-_]/)[0] ?? b)
    return i === -1 ? ORDER.length : i
  }
  rows.sort((a, b) => rank(a.broker) - rank(b.broker) || a.broker.localeCompare(b.broker))
  const head = ["broker", "messages", "deliveries", "duration", "msg/s", "heap start", "heap end", "rss peak", "result", "run at"]
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  console.log([line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map((r) => line(r.cells))].join("\n"))
  console.log("\nheap start/end: median heapUsed of the first and last third of the samples after warm-up; msg/s: published messages per second of the whole run (each goes to 3 groups)")
}

await main()
