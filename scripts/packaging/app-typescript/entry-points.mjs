// Imports every entry point every installed @omnibus package exports (conformance
// needs vitest's runner: app-adapter's test/entry-points.test.ts covers it).
// An entry point that is also the package's bin is a CLI: it runs when imported, so it is skipped.
import { readdirSync, readFileSync } from "node:fs"

const failures = []
let count = 0
for (const dir of readdirSync("node_modules/@omnibus")) {
  if (dir === "conformance") continue
  const manifest = JSON.parse(readFileSync(`node_modules/@omnibus/${dir}/package.json`, "utf8"))
  const bins = new Set(Object.values(manifest.bin ?? {}).map((file) => file.replace(/^\.\//, "")))
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (bins.has(String(target.import ?? target.default).replace(/^\.\//, ""))) continue
    const specifier = `${manifest.name}${subpath.slice(1)}`
    count++
    await import(specifier).catch((e) => failures.push(`${specifier}: ${e.message}`))
  }
}
if (failures.length > 0) throw new Error(`entry points that fail to load:\n${failures.join("\n")}`)
console.log(`ok ${count} entry points load`)
