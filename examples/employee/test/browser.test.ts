/**
 * The platform as a user sees it, per config (and on PostgreSQL): create,
 * edit and delete an employee through the web pages in Chromium, and check
 * that the audit logger and payroll (separate processes except on
 * all-memory) saw each event.
 */
import pg from "pg"
import type { Page } from "playwright-core"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { loadConfig } from "../src/config.ts"
import { POSTGRES_OVERRIDE_CONFIGS, TESTED_CONFIGS } from "./configs.ts"
import { launchBrowser, type Browser } from "./support/browser.ts"
import { openReaders, type Readers } from "./support/databases.ts"
import { startPlatform, type RunningPlatform } from "./support/platform.ts"
import { waitFor } from "./support/wait.ts"

const EVENT_DEADLINE_MS = 20_000
// Five attempts with backoff (about 3 s), then the dead letter.
const DEAD_LETTER_DEADLINE_MS = 60_000

const PLATFORMS = [
  ...TESTED_CONFIGS.map((config) => ({ name: config, config, postgres: false })),
  ...POSTGRES_OVERRIDE_CONFIGS.map((config) => ({ name: `${config} with DATABASE_URL (PostgreSQL)`, config, postgres: true })),
]

describe.each(PLATFORMS)("employee platform on $name", ({ config, postgres }) => {
  const onPostgres = postgres || loadConfig(config, {}, {}).databaseUrl !== undefined
  let platform: RunningPlatform
  let readers: Readers
  let browser: Browser
  let page: Page
  const dialogs: Array<string> = []

  beforeAll(async () => {
    browser = await launchBrowser()
    platform = await startPlatform(config, { postgres })
    readers = openReaders(platform)
    page = await browser.context.newPage()
    // Only Destroy's "Are you sure?" may open a dialog; anything else (alert from injected script) is recorded and fails a test.
    page.on("dialog", (d) => {
      dialogs.push(d.message())
      void (d.message() === "Are you sure?" ? d.accept() : d.dismiss())
    })
  }, 300_000)

  // A failure on a real broker is easier to read with what the platform's processes printed.
  beforeEach(({ onTestFailed }) => onTestFailed(() => console.error(`--- ${config} platform output ---\n${platform.output()}`)))

  afterAll(async () => {
    await browser?.close()
    await readers?.close()
    await platform?.stop()
  })

  const createEmployee = async (firstName: string, lastName: string): Promise<string> => {
    await page.goto(platform.url)
    await page.getByRole("link", { name: "New Employee" }).click()
    const guid = await page.locator("#employee_guid").inputValue()
    expect(guid).toMatch(/^[0-9a-f-]{36}$/)
    expect(await page.locator("#employee_guid").getAttribute("readonly")).not.toBeNull()
    await page.getByLabel("First name").fill(firstName)
    await page.getByLabel("Last name").fill(lastName)
    await page.getByRole("button", { name: "Create Employee" }).click()
    await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe("Employee was successfully created.")
    return guid
  }

  it("creates, edits and deletes an employee; audit and payroll see every event", async () => {
    const guid = await createEmployee("Grace", "Hopper")
    expect(await page.locator("#first_name").textContent()).toBe("Grace")
    expect(await page.locator("#last_name").textContent()).toBe("Hopper")
    await waitFor("payroll to add Grace Hopper", async () => ((await readers.payrollRow(guid))?.lastName === "Hopper" ? true : undefined), EVENT_DEADLINE_MS)

    await page.getByRole("link", { name: "Edit" }).click()
    await page.getByLabel("Last name").fill("Murray Hopper")
    await page.getByRole("button", { name: "Update Employee" }).click()
    await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe("Employee was successfully updated.")
    expect(await page.locator("#last_name").textContent()).toBe("Murray Hopper")
    await waitFor("payroll to apply the update", async () => ((await readers.payrollRow(guid))?.lastName === "Murray Hopper" ? true : undefined), EVENT_DEADLINE_MS)

    await page.getByRole("link", { name: "Back" }).click()
    const row = page.locator(`tr[data-guid="${guid}"]`)
    expect(await row.locator("td").nth(1).textContent()).toBe("Murray Hopper")
    await row.getByRole("button", { name: "Destroy" }).click()
    await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe("Employee was successfully destroyed.")
    expect(await page.locator(`tr[data-guid="${guid}"]`).count()).toBe(0)
    expect(dialogs).toEqual(["Are you sure?"])
    await waitFor("payroll to remove the employee", async () => ((await readers.payrollRow(guid)) === undefined ? true : undefined), EVENT_DEADLINE_MS)

    const audited = await waitFor("the audit log to hold all three events", async () => {
      const events = await readers.auditedEvents(guid)
      return events.length >= 3 ? events : undefined
    }, EVENT_DEADLINE_MS)
    expect([...audited].sort()).toEqual(["employee.created", "employee.destroyed", "employee.updated"])
    // The audit process writes its row before it prints, and its stdout reaches us through a pipe: wait for the lines too.
    const printed = [
      `[audit] received employee.created: {"guid":"${guid}","firstName":"Grace","lastName":"Hopper"}`,
      `[audit] received employee.updated: {"guid":"${guid}","firstName":"Grace","lastName":"Murray Hopper"}`,
      `[audit] received employee.destroyed: {"guid":"${guid}"`,
    ]
    await waitFor("the audit process to print all three events", () => (printed.every((line) => platform.output().includes(line)) ? true : undefined), EVENT_DEADLINE_MS)
  })

  it("dead-letters a Poison employee, replays it once the switch is off, purges; the Activity page shows it live", async () => {
    const at = (path: string) => new URL(path, platform.url).href
    const deadLetters = at("/dead-letters/payroll")
    // The Activity page is opened first and never reloaded: every row it gets comes through its event stream.
    const activity = await browser.context.newPage()
    try {
      await activity.goto(at("/activity"))
      await waitFor("the Activity stream to open", async () => ((await activity.locator("#activity").getAttribute("data-stream")) === "open" ? true : undefined), EVENT_DEADLINE_MS)
      const broker = await activity.locator("footer code").nth(2).textContent()

      const poisonSwitch = async (enabled: boolean) => {
        await page.goto(deadLetters)
        if ((await page.locator("#poison-switch").getAttribute("data-enabled")) === String(enabled)) return
        await page.getByRole("button", { name: `Turn the Poison switch ${enabled ? "on" : "off"}` }).click()
        await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe(`The Poison switch is ${enabled ? "on" : "off"}.`)
        expect(await page.locator("#poison-switch").getAttribute("data-enabled")).toBe(String(enabled))
      }
      /** Creates a Poison employee and waits until payroll dead-lettered its event: the message id and the list row. */
      const poisoned = async () => {
        const guid = await createEmployee("Mithridates", "Poison")
        const id = await waitFor("the create's outbox row", async () => (await readers.outboxRows()).find((r) => r.messageKey === guid)?.id, EVENT_DEADLINE_MS)
        const row = page.locator(`#dead-letters tr[data-id="${id}"]`)
        await waitFor("payroll to retry and then dead-letter the Poison employee", async () => {
          await page.goto(deadLetters)
          return (await row.count()) === 1 ? true : undefined
        }, DEAD_LETTER_DEADLINE_MS, 250)
        return { guid, id, row }
      }

      await poisonSwitch(true)
      const first = await poisoned()
      expect(await first.row.locator("td.error-name").textContent()).toBe("PoisonedEmployee")
      expect(await first.row.locator("td.error-message").textContent()).toBe(`payroll refuses employee ${first.guid}: last name "Poison" while the Poison switch is on`)
      expect(await first.row.locator("td.attempts").textContent()).toBe("5") // the default retry policy's attempts
      expect(await readers.payrollRow(first.guid)).toBeUndefined()
      await page.goto(at("/dead-letters/audit"))
      expect(await page.locator(`#dead-letters tr[data-id="${first.id}"]`).count()).toBe(0) // audit took it

      // One dead letter, its payload decoded.
      await page.goto(deadLetters)
      await first.row.getByRole("link").click()
      expect(await page.locator("#error").textContent()).toContain("PoisonedEmployee (poison): payroll refuses employee")
      expect(JSON.parse((await page.locator("#payload").textContent()) ?? "")).toEqual({ guid: first.guid, firstName: "Mithridates", lastName: "Poison" })

      // Fixed: switch off, replay that one; payroll takes it.
      await poisonSwitch(false)
      await first.row.getByRole("button", { name: "Replay" }).click()
      await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe("Replayed 1 dead letter to group payroll.")
      expect(await first.row.count()).toBe(0)
      await waitFor("payroll to add the replayed employee", async () => ((await readers.payrollRow(first.guid))?.lastName === "Poison" ? true : undefined), EVENT_DEADLINE_MS)

      // The Activity page saw the whole story live, each row naming the broker, outcomes with their latency.
      const seen = async (type: string, by: RegExp) => {
        const row = activity.locator(`#activity tr[data-id="${first.id}"][data-type="${type}"]`).filter({ has: activity.locator("td:nth-child(3)", { hasText: by }) })
        await waitFor(`the Activity page to show ${type} by ${by}`, async () => ((await row.count()) > 0 ? true : undefined), EVENT_DEADLINE_MS)
        expect(await row.first().locator("td").nth(7).textContent()).toBe(broker)
        return row
      }
      await seen("published", /^service$/)
      await seen("retry", /^payroll-[12]$/)
      const deadLettered = await seen("dead-letter", /^payroll-[12]$/)
      expect(await deadLettered.first().locator("td").nth(9).textContent()).toContain("PoisonedEmployee")
      await seen("replayed", /^web$/)
      for (const by of [/^audit$/, /^payroll-[12]$/]) {
        const handled = await seen("handled", by)
        await expect.poll(() => handled.first().locator("td").nth(8).textContent(), { timeout: EVENT_DEADLINE_MS }).toMatch(/^\d+ ms$/)
      }

      // Purge: another poisoned event, and the group's dead letters are dropped.
      await poisonSwitch(true)
      const second = await poisoned()
      await page.getByRole("button", { name: "Purge all" }).click()
      await expect.poll(() => page.locator("#notice").textContent(), { timeout: EVENT_DEADLINE_MS }).toMatch(/^Purged \d+ dead letters? of group payroll\.$/)
      expect(await second.row.count()).toBe(0)
      expect(await page.locator("#dead-letters tbody tr[data-id]").count()).toBe(0)
      await poisonSwitch(false)
      expect(await readers.payrollRow(second.guid)).toBeUndefined()
    } finally {
      await activity.close()
    }
  })

  it("renders an XSS payload as text and stores an SQL-injection payload verbatim", async () => {
    const xss = `<img src=x onerror="alert('xss')"><script>alert("xss")</script>`
    const sql = `Robert'); DROP TABLE employees;--`
    const before = await readers.employeeCount()
    const guid = await createEmployee(xss, sql)

    expect(await page.locator("#first_name").textContent()).toBe(xss)
    expect(await page.locator("#last_name").textContent()).toBe(sql)
    expect(await page.locator("main img, main script").count()).toBe(0)
    await page.goto(platform.url)
    const row = page.locator(`tr[data-guid="${guid}"]`)
    expect(await row.locator("td").first().textContent()).toBe(xss)
    expect(await page.locator("main img, main script").count()).toBe(0)
    expect(dialogs.filter((d) => d !== "Are you sure?")).toEqual([])

    // Stored exactly as typed, the table survived, and payroll got the same text through protobuf.
    expect(await readers.serviceRow(guid)).toEqual({ firstName: xss, lastName: sql })
    expect(await readers.employeeCount()).toBe(before + 1)
    await waitFor("payroll to get the payloads verbatim", async () => {
      const r = await readers.payrollRow(guid)
      return r?.firstName === xss && r.lastName === sql ? true : undefined
    }, EVENT_DEADLINE_MS)
  })

  it("searches like the book's scopes: by first and last name", async () => {
    const g1 = await createEmployee("Ada", "Lovelace")
    const g2 = await createEmployee("Ada", "Byron")
    await page.goto(platform.url)
    await page.getByLabel("First name").fill("Ada")
    await page.getByLabel("Last name").fill("Lovelace")
    await page.getByRole("button", { name: "Search" }).click()
    await expect.poll(() => page.locator("tbody tr").count(), { timeout: EVENT_DEADLINE_MS }).toBe(1)
    expect(await page.locator(`tr[data-guid="${g1}"]`).count()).toBe(1)
    await page.goto(`${platform.url}?first_name=Ada`)
    expect(await page.locator(`tr[data-guid="${g1}"], tr[data-guid="${g2}"]`).count()).toBe(2)
  })

  it("shares payroll work between two competing instances while the audit logger gets every event", async () => {
    // Enough events that both payroll instances take some (the broker spreads a group's messages).
    const guids: Array<string> = []
    for (let i = 0; i < 10; i++) guids.push(await createEmployee(`Worker${i}`, "Competing"))
    for (const guid of guids) {
      await waitFor(`payroll to add ${guid}`, () => readers.payrollRow(guid), EVENT_DEADLINE_MS)
      await waitFor(`audit to log ${guid}`, async () => ((await readers.auditedEvents(guid)).length === 1 ? true : undefined), EVENT_DEADLINE_MS)
    }
    expect(await readers.payrollInstances()).toEqual(["payroll-1", "payroll-2"])
  })

  // PostgreSQL can refuse a transaction at COMMIT (a deferred constraint trigger), after the outbox row was written.
  if (onPostgres) {
    it("publishes nothing for a create that rolls back at commit, after its event was written to the outbox", async () => {
      const refuse = new pg.Client({ connectionString: platform.databaseUrl })
      await refuse.connect()
      try {
        await refuse.query(`CREATE FUNCTION refuse_employee() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
          CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON employees DEFERRABLE INITIALLY DEFERRED
          FOR EACH ROW WHEN (NEW.last_name = 'Rolled Back') EXECUTE FUNCTION refuse_employee()`)
      } finally {
        await refuse.end()
      }
      await page.goto(`${platform.url}/new`)
      const refused = await page.locator("#employee_guid").inputValue()
      await page.getByLabel("First name").fill("Never")
      await page.getByLabel("Last name").fill("Rolled Back")
      await page.getByRole("button", { name: "Create Employee" }).click()
      await expect.poll(() => page.locator("h1").textContent(), { timeout: EVENT_DEADLINE_MS }).toBe("Something went wrong")

      // A create after it goes all the way; the refused one left nothing anywhere.
      const accepted = await createEmployee("Ever", "After")
      await waitFor("payroll to add the next employee", () => readers.payrollRow(accepted), EVENT_DEADLINE_MS)
      await waitFor("audit to log the next employee", async () => ((await readers.auditedEvents(accepted)).length === 1 ? true : undefined), EVENT_DEADLINE_MS)
      const outbox = await readers.outboxRows()
      expect(outbox.filter((r) => r.messageKey === accepted).map((r) => r.routingKey)).toEqual(["employee.created"])
      expect(outbox.filter((r) => r.messageKey === refused)).toEqual([])
      expect(await readers.serviceRow(refused)).toBeUndefined()
      expect(await readers.payrollRow(refused)).toBeUndefined()
      expect(await readers.auditedEvents(refused)).toEqual([])
    })
  }

  it("stops every process it started on SIGTERM (as on Ctrl-C)", async () => {
    const pids = [...platform.output().matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]))
    if (config !== "all-memory") expect(pids.length).toBe(5) // service, audit, payroll ×2, web
    await platform.stop()
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    await waitFor("every component process to exit", () => (pids.every((p) => !alive(p)) ? true : undefined), 15_000)
    expect(platform.output()).not.toMatch(/did not stop within|could not close/)
  })
})
