/**
 * Takes the pictures in docs/screenshots/, on the all-memory config:
 *   employee-list.png   the employee list, after adding a few employees through the pages
 *   dead-letters.png    payroll's Dead letters page holding a "Poison" employee's event
 *   activity.png        the Activity page (its newest rows) after that event was published, retried, dead-lettered,
 *                       replayed and handled
 *   node scripts/screenshot.ts [out-dir]
 */
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import type { Page } from "playwright-core"
import { EXAMPLE_ROOT } from "../src/config.ts"
import { launchBrowser } from "../test/support/browser.ts"
import { startPlatform } from "../test/support/platform.ts"
import { waitFor } from "../test/support/wait.ts"

const outDir = resolve(process.argv[2] ?? join(EXAMPLE_ROOT, "../../docs/screenshots"))
const people = [["Ada", "Lovelace"], ["Grace", "Hopper"], ["Katherine", "Johnson"], ["Alan", "Turing"], ["<b>Bobby</b>", "Tables'); DROP TABLE employees;--"]]
const DEADLINE_MS = 30_000

const platform = await startPlatform("all-memory")
const browser = await launchBrowser()
const at = (path: string) => new URL(path, platform.url).href
/** The whole page, or (`fullPage` false) what fits in the window: the newest rows of a long table. */
const shoot = async (page: Page, name: string, fullPage = true) => {
  const path = join(outDir, name)
  await page.screenshot({ path, fullPage })
  console.log(`wrote ${path}`)
}
try {
  mkdirSync(outDir, { recursive: true })
  const page = await browser.context.newPage()
  await page.setViewportSize({ width: 1280, height: 720 })
  // Opened first: it fills itself from the event stream while the rest happens.
  const activity = await browser.context.newPage()
  await activity.goto(at("/activity"))
  await activity.locator('#activity[data-stream="open"]').waitFor({ timeout: DEADLINE_MS })

  const create = async (first: string, last: string) => {
    await page.goto(at("/employees/new"))
    await page.getByLabel("First name").fill(first)
    await page.getByLabel("Last name").fill(last)
    await page.getByRole("button", { name: "Create Employee" }).click()
    await page.locator("#notice").waitFor()
  }
  for (const [first, last] of people) await create(first!, last!)
  await page.goto(platform.url)
  await shoot(page, "employee-list.png")

  await create("Mithridates", "Poison")
  await waitFor("payroll to dead-letter the Poison employee", async () => {
    await page.goto(at("/dead-letters/payroll"))
    return (await page.locator("#dead-letters tr[data-id]").count()) > 0 ? true : undefined
  }, DEADLINE_MS, 250)
  await shoot(page, "dead-letters.png")

  await page.getByRole("button", { name: "Turn the Poison switch off" }).click()
  await page.locator("#notice").waitFor()
  await page.getByRole("button", { name: "Replay", exact: true }).click()
  await page.locator("#notice").waitFor()
  await waitFor("the replayed event to be handled", async () => {
    const replayed = await activity.locator('#activity tr[data-type="replayed"]').getAttribute("data-id")
    return (await activity.locator(`#activity tr[data-type="handled"][data-id="${replayed}"]`).count()) === 2 ? true : undefined // audit's copy and payroll's
  }, DEADLINE_MS)
  await activity.setViewportSize({ width: 1280, height: 840 })
  await shoot(activity, "activity.png", false)
} finally {
  await browser.close()
  await platform.stop()
}
