/**
 * Headless Chromium for the browser tests and scripts: Debian's chromium
 * driven by playwright-core. CI machines start without it, so it is
 * installed here (apt-get, as root) when /usr/bin/chromium is missing.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium, type BrowserContext } from "playwright-core"

export const CHROMIUM = "/usr/bin/chromium"

export const ensureChromium = (): void => {
  if (existsSync(CHROMIUM)) return
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing and installing it needs root: run apt-get install chromium`)
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env })
  execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env })
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get install chromium did not provide ${CHROMIUM}`)
}

export interface Browser {
  readonly context: BrowserContext
  close(): Promise<void>
}

/** A fresh profile each time, so no cookie or cache leaks between runs. */
export const launchBrowser = async (): Promise<Browser> => {
  ensureChromium()
  const profile = mkdtempSync(join(tmpdir(), "employee-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 700 },
  })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
