/**
 * Takes docs/screenshots/employee-list.png: the employee list on the
 * all-memory config, after adding a few employees through the pages.
 *   node scripts/screenshot.ts [out.png]
 */
import { mkdirSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { EXAMPLE_ROOT } from "../src/config.ts"
import { launchBrowser } from "../test/support/browser.ts"
import { startPlatform } from "../test/support/platform.ts"

const out = resolve(process.argv[2] ?? join(EXAMPLE_ROOT, "../../docs/screenshots/employee-list.png"))
const people = [["Ada", "Lovelace"], ["Grace", "Hopper"], ["Katherine", "Johnson"], ["Alan", "Turing"], ["<b>Bobby</b>", "Tables'); DROP TABLE employees;--"]]

const platform = await startPlatform("all-memory")
const browser = await launchBrowser()
try {
  const page = await browser.context.newPage()
  for (const [first, last] of people) {
    await page.goto(`${platform.url}/new`)
    await page.getByLabel("First name").fill(first!)
    await page.getByLabel("Last name").fill(last!)
    await page.getByRole("button", { name: "Create Employee" }).click()
    await page.locator("#notice").waitFor()
  }
  await page.goto(platform.url)
  mkdirSync(dirname(out), { recursive: true })
  await page.screenshot({ path: out, fullPage: true })
  console.log(`wrote ${out}`)
} finally {
  await browser.close()
  await platform.stop()
}
