import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

// Every published tarball carries the license, a README and a changelog.
// The LICENSE copies exist because npm packs only files inside the package
// directory; this test (rather than a copy step) keeps them identical to the
// root one, so a change to the root LICENSE fails CI until copied everywhere.
const root = join(import.meta.dirname, "..", "..", "..")

/** Package directories named by pnpm-workspace.yaml ("dir" or "dir/*" entries). */
const workspaceDirs = (): string[] =>
  readFileSync(join(root, "pnpm-workspace.yaml"), "utf8")
    .split("\n")
    .map((line) => /^\s*-\s*["']?([^"'\s]+)["']?\s*$/.exec(line)?.[1])
    .filter((entry): entry is string => entry !== undefined)
    .flatMap((entry) =>
      entry.endsWith("/*")
        ? readdirSync(join(root, entry.slice(0, -2)), { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => join(entry.slice(0, -2), d.name))
        : [entry],
    )
    .filter((dir) => existsSync(join(root, dir, "package.json")))

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly license?: string
  readonly files?: ReadonlyArray<string>
}

const publicPackages = workspaceDirs()
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest }))
  .filter(({ manifest }) => manifest.private !== true)

const rootLicense = readFileSync(join(root, "LICENSE"), "utf8")

describe("published package files", () => {
  it("finds the public packages", () => {
    expect(publicPackages.map((p) => p.manifest.name)).toContain("@omnibus/core")
    expect(publicPackages.length).toBeGreaterThanOrEqual(8)
  })

  it("root LICENSE is MIT", () => {
    expect(rootLicense).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} The Omnibus authors\n/)
  })

  describe.each(publicPackages)("$manifest.name ($dir)", ({ dir, manifest }) => {
    const read = (file: string): string => readFileSync(join(root, dir, file), "utf8")

    it("carries LICENSE identical to the root one (fix: cp LICENSE <dir>/)", () => {
      expect(manifest.license).toBe("MIT")
      expect(read("LICENSE")).toBe(rootLicense)
    })

    it("has a README.md and a CHANGELOG.md titled with its name", () => {
      expect(read("README.md").startsWith(`# ${manifest.name}\n`)).toBe(true)
      expect(read("CHANGELOG.md").startsWith(`# ${manifest.name}\n`)).toBe(true)
    })

    it("lists LICENSE, README.md and CHANGELOG.md in package.json files", () => {
      expect(manifest.files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "CHANGELOG.md"]))
    })
  })
})
