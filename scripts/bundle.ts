/**
 * A package's JavaScript in dist/: one ES module per entry point (its
 * package.json `exports` and `bin`) plus shared chunks, bundled from src/ by
 * rolldown; `tsc -p tsconfig.build.json` writes only the declarations.
 *
 * Why: Node pays per module file it loads (resolve, read, compile), and core
 * plus an adapter were ~40 small files, so `import "@omnibus/rabbitmq"` cost
 * 1.3–1.6 × raw amqplib (bench/FINDINGS.md, "Start-up cost"). What one package
 * imports from another (`@omnibus/core/adapter` in an adapter) and every
 * dependency stay imports, so each class exists once however many packages a
 * user installs. Dynamic imports (core's `connect` loading the bus) stay lazy
 * as chunks of their own. What the entries load at once goes into one shared
 * chunk (`eagerModules`), not one chunk per set of entries that share it:
 * `import "@omnibus/rabbitmq"` read seven of core's files, now four (bench/FINDINGS.md,
 * "Core in fewer files"). The source maps point into src/, which is published.
 *
 * Usage (a package's `build` script, from its directory): node ../../scripts/bundle.ts
 */
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { isAbsolute, join } from "node:path"
import { build, type ChunkingContext } from "rolldown"

interface Manifest {
  readonly name: string
  readonly exports?: Record<string, string | Record<string, string>>
  readonly bin?: Record<string, string>
}

const dir = process.cwd()
const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest

/** "./dist/x/y.js" → "x/y": the entry's name, which is also its output path. */
const entryName = (distPath: string): string => {
  const m = /^\.\/dist\/(.+)\.js$/.exec(distPath)
  if (!m) throw new Error(`${manifest.name}: ${distPath} is not a file in dist/`)
  return m[1]!
}

/** Every entry a user can reach: each export's source, and each bin's (src/ mirrors dist/). */
const entries = (): Record<string, string> => {
  const input: Record<string, string> = {}
  for (const target of Object.values(manifest.exports ?? {})) {
    if (typeof target === "string") continue // a non-JavaScript export (e.g. ./package.json)
    const dist = target["import"]
    const src = target["@omnibus/source"]
    if (dist === undefined || src === undefined) continue
    input[entryName(dist)] = join(dir, src)
  }
  for (const dist of Object.values(manifest.bin ?? {})) {
    const name = entryName(dist)
    input[name] ??= join(dir, "src", `${name}.ts`)
  }
  return input
}

/** The JavaScript and its maps from an earlier build; the declarations (tsc's) stay. */
const removeJavaScript = (path: string): void => {
  for (const name of readdirSync(path)) {
    const p = join(path, name)
    if (statSync(p).isDirectory()) removeJavaScript(p)
    else if (name.endsWith(".js") || name.endsWith(".js.map")) rmSync(p)
  }
}

/**
 * The entries an application loads when it starts: a package's main entry,
 * and core's `./adapter`, which every adapter imports at load. The others
 * (core's `./effect`, `./testing`) are loaded on purpose and may load more.
 */
const STARTUP_ENTRIES = ["index", "adapter"]

/**
 * The package's own modules that the start-up entries load at once: their
 * static imports, followed through the package's src/ (dynamic imports, e.g.
 * core's `connect` loading the bus, stay lazy). The entries stay in their own files.
 */
const eagerModules = (input: Record<string, string>, ctx: ChunkingContext): Set<string> => {
  const src = join(dir, "src")
  const roots = STARTUP_ENTRIES.flatMap((name) => input[name] ?? [])
  const seen = new Set<string>()
  for (let id = roots.pop(); id !== undefined; id = roots.pop()) {
    if (seen.has(id)) continue
    seen.add(id)
    for (const next of ctx.getModuleInfo(id)?.importedIds ?? []) if (next.startsWith(src)) roots.push(next)
  }
  for (const entry of Object.values(input)) seen.delete(entry)
  return seen
}

const input = entries()
let eager: Set<string> | undefined
if (Object.keys(input).length === 0) throw new Error(`${manifest.name}: no entry points in package.json`)
removeJavaScript(join(dir, "dist"))
await build({
  cwd: dir,
  input,
  platform: "node",
  // Bare specifiers (dependencies, peers, other @omnibus packages, node: built-ins) stay imports.
  external: (id) => !id.startsWith(".") && !isAbsolute(id) && !id.startsWith("\0"),
  logLevel: "warn",
  output: {
    dir: join(dir, "dist"),
    format: "esm",
    sourcemap: true,
    sourcemapExcludeSources: true, // src/ ships beside dist/
    entryFileNames: "[name].js",
    chunkFileNames: "[name]-[hash].js",
    codeSplitting: {
      groups: [{ debugName: "startup", name: (id, ctx) => ((eager ??= eagerModules(input, ctx)).has(id) ? "shared" : null) }],
    },
  },
})
