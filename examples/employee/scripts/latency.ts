/**
 * End-to-end latency per config: from clicking "Create Employee" in the
 * browser to the employee's row existing in payroll's table (HTTP → RPC →
 * database + outbox → relay → broker → payroll → database). Median of 20 per
 * config, all configs in the same run.
 *   node scripts/latency.ts [config ...] [--runs 20]
 */
import { parseArgs } from "node:util"
import { TESTED_CONFIGS } from "../test/configs.ts"
import { launchBrowser } from "../test/support/browser.ts"
import { openReaders } from "../test/support/databases.ts"
import { startPlatform } from "../test/support/platform.ts"

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string", default: "20" } } })
const runs = Number(values.runs)
const configs = positionals.length > 0 ? positionals : [...TESTED_CONFIGS]
const WARMUP = 3
const DEADLINE_MS = 10_000

const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  const i = (sorted.length - 1) * q
  const lo = Math.floor(i)
  const hi = Math.ceil(i)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (i - lo)
}

const results: Array<{ config: string; median: number; p90: number; min: number; max: number; page: number }> = []
const browser = await launchBrowser()
try {
  for (const config of configs) {
    const platform = await startPlatform(config)
    const readers = openReaders(platform)
    try {
      const page = await browser.context.newPage()
      const samples: Array<number> = []
      const pageSamples: Array<number> = []
      for (let i = 0; i < WARMUP + runs; i++) {
        await page.goto(`${platform.url}/new`)
        const guid = await page.locator("#employee_guid").inputValue()
        await page.getByLabel("First name").fill(`Latency${i}`)
        await page.getByLabel("Last name").fill(config)
        const submit = page.getByRole("button", { name: "Create Employee" })
        const started = performance.now()
        const clicked = submit.click()
        // For scale: when the user sees the "created" page (the browser's and web app's share of the time).
        const shown = clicked.then(() => page.locator("#notice").waitFor()).then(() => performance.now() - started)
        // Busy-poll the payroll table (a read on a WAL database is microseconds, on PostgreSQL a round trip) until the row exists.
        while ((await readers.payrollRow(guid)) === undefined) {
          if (performance.now() - started > DEADLINE_MS) throw new Error(`${config}: ${guid} not on payroll after ${DEADLINE_MS} ms`)
          await new Promise((r) => setImmediate(r))
        }
        const elapsed = performance.now() - started
        const pageMs = await shown
        if (i >= WARMUP) {
          samples.push(elapsed)
          pageSamples.push(pageMs)
        }
      }
      await page.close()
      const sorted = [...samples].sort((a, b) => a - b)
      const page50 = quantile([...pageSamples].sort((a, b) => a - b), 0.5)
      results.push({ config, median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), min: sorted[0]!, max: sorted.at(-1)!, page: page50 })
      console.log(`${config}: median ${quantile(sorted, 0.5).toFixed(1)} ms over ${runs} creates`)
    } finally {
      await readers.close()
      await platform.stop()
    }
  }
} finally {
  await browser.close()
}

console.log(`\nclick "Create Employee" → payroll row exists (ms, ${runs} runs each after ${WARMUP} warm-up)`)
console.log("| config | median | p90 | min | max | click → \"created\" page shown (median) |\n| --- | ---: | ---: | ---: | ---: | ---: |")
for (const r of results) console.log(`| ${r.config} | ${r.median.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} | ${r.page.toFixed(1)} |`)
