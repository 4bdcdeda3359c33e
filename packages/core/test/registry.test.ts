import { describe, expect, it } from "vitest"
import { InvalidUrl } from "../src/errors.ts"
import { resolveAdapterFrom } from "../src/registry.ts"

// A scheme whose package is not installed: every first-party adapter is in
// the workspace, so the table names a package that exists nowhere.
const table = { nosuch: "@omnibus/no-such-adapter" }

const failure = async (url: string): Promise<InvalidUrl> => {
  const error = await resolveAdapterFrom(url, table).then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(InvalidUrl)
  return error as InvalidUrl
}

describe("resolveAdapter", () => {
  it("tells how to install the package a scheme needs, keeping the import error briefly", async () => {
    const error = await failure("nosuch://user:secret@host:1234")
    expect(error.reason).toMatch(
      /^scheme "nosuch:" needs @omnibus\/no-such-adapter: npm install @omnibus\/no-such-adapter \(or import "@omnibus\/no-such-adapter" once, e\.g\. in bundles\) \(.*no-such-adapter.*\)$/,
    )
    expect(error.reason).not.toContain("\n")
    expect(error.message).not.toContain("secret")
  })

  it("lists the known schemes for a scheme nobody serves", async () => {
    const error = await failure("gopher://host")
    expect(error.reason).toMatch(/^no adapter for scheme "gopher:" \(registered: .*nosuch.*\)$/)
  })
})
