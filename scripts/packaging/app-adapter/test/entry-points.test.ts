import { readFileSync } from "node:fs"
import { expect, test } from "vitest"

// Every entry point of the installed conformance package loads (they import vitest, so they load here).
const manifestFile = new URL("../node_modules/@omnibus/conformance/package.json", import.meta.url)
const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as { name: string; exports: Record<string, unknown> }

test.each(Object.keys(manifest.exports))("@omnibus/conformance entry point %s loads", async (subpath) => {
  const loaded: unknown = await import(`${manifest.name}${subpath.slice(1)}`)
  expect(loaded).toBeTypeOf("object")
})
