/**
 * omnibus asyncapi: the built binary on the employee example's contracts
 * (protobuf), compared with the committed docs/asyncapi/employee.yaml; and in
 * this process on contracts of every codec kind (effect Schema, text, bytes,
 * JSON, a codec without a schema). Every document must pass @asyncapi/parser
 * without errors or warnings.
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DiagnosticSeverity, Parser, type AsyncAPIDocumentInterface } from "@asyncapi/parser"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, inProcess, omnibus } from "./harness.ts"

const EXAMPLE = fileURLToPath(new URL("../../../examples/employee/src/contracts/employee.generated.ts", import.meta.url))
const COMMITTED = fileURLToPath(new URL("../../../docs/asyncapi/employee.yaml", import.meta.url))
const FIXTURE = fileURLToPath(new URL("./fixtures/contracts.ts", import.meta.url))
const REGENERATE = "npm run asyncapi"

/** The parsed document; fails on any diagnostic worse than information (the parser recommends AsyncAPI 3.1 as information). */
const parsed = async (text: string): Promise<AsyncAPIDocumentInterface> => {
  const { document, diagnostics } = await new Parser().parse(text)
  const problems = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)
  expect(problems.map((d) => `${d.code}: ${d.message} at ${d.path.join("/")}`)).toEqual([])
  expect(document).toBeDefined()
  return document!
}

/** Event operations carry no reply; RPC operations (call and serve) do. */
const shape = (doc: AsyncAPIDocumentInterface) => ({
  channels: doc.channels().length,
  operations: doc.operations().length,
  messages: doc.components().messages().length,
  eventChannels: doc.channels().filter((c) => c.address() !== null && !c.operations().all().some((o) => o.reply() !== undefined)).length,
  rpcCalls: doc.operations().filter((o) => o.action() === "send" && o.reply() !== undefined).length,
})

describe("omnibus asyncapi", () => {
  beforeAll(assertBuilt)

  it("the employee example: its 3 events and 4 RPC methods, as committed in docs/asyncapi/employee.yaml", async () => {
    const r = await omnibus(["asyncapi", EXAMPLE])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/3 events, 4 RPC methods/)
    expect(r.stdout, `docs/asyncapi/employee.yaml is out of date: ${REGENERATE}`).toBe(readFileSync(COMMITTED, "utf8"))
    const doc = await parsed(r.stdout)
    expect(shape(doc)).toEqual({ channels: 11, operations: 14, messages: 11, eventChannels: 3, rpcCalls: 4 })
    expect(doc.channels().get("employee.created")?.address()).toBe("employee.created")
    const reply = doc.operations().get("employee.search.request")?.reply()
    expect(reply?.channel()?.id()).toBe("employee.search.reply")
    const payload = doc.components().messages().get("employee.search.reply")?.payload()
    expect(payload?.title()).toBe("EmployeeMessageList")
    const items = payload?.properties()?.records?.items()
    expect(items !== undefined && !Array.isArray(items) ? items.title() : undefined).toBe("EmployeeMessage")
    expect(doc.components().schemas().all().map((s) => s.id())).toEqual(["EmployeeMessageRequest", "EmployeeMessageList", "EmployeeMessage"])
  })

  it("effect Schema, text, bytes and JSON payloads; a codec without a schema; shared definitions placed once", async () => {
    const cli = inProcess()
    expect(await cli.run(["asyncapi", FIXTURE, "--title", "Fixture", "--version", "1.2.3"])).toBe(0)
    expect(cli.stderr()).toMatch(/4 events, 2 RPC methods/)
    const doc = await parsed(cli.stdout())
    expect(doc.info().title()).toBe("Fixture")
    expect(doc.info().version()).toBe("1.2.3")
    expect(shape(doc)).toEqual({ channels: 8, operations: 12, messages: 8, eventChannels: 4, rpcCalls: 2 })
    // Customer (event payload and RPC reply) and the Address it holds: one schema each.
    expect(doc.components().schemas().all().map((s) => s.id()).sort()).toEqual(["Address", "Customer"])
    const customer = doc.components().messages().get("customers.created")?.payload()
    expect(customer?.properties()?.address?.properties()?.city?.type()).toBe("string")
    // A routing-key word may hold ":", an AsyncAPI id may not: the id is rewritten, the address kept.
    expect(doc.channels().get("files.uploaded_raw")?.address()).toBe("files.uploaded:raw")
    expect(doc.components().messages().get("logs.line")?.payload()?.type()).toBe("string")
    expect(doc.components().messages().get("opaque.thing")?.hasPayload()).toBe(false)
    expect(doc.components().messages().get("misc.echo.request")?.contentType()).toBe("application/json")
  })

  it("--out writes YAML, or JSON for a .json file; a module without contracts or a missing one is a usage error", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "omnibus-asyncapi-")), "fixture.json")
    expect(await inProcess().run(["asyncapi", FIXTURE, "--out", out])).toBe(0)
    expect(JSON.parse(readFileSync(out, "utf8"))).toMatchObject({ asyncapi: "3.0.0" })
    const none = inProcess()
    expect(await none.run(["asyncapi", fileURLToPath(new URL("./harness.ts", import.meta.url))])).toBe(2)
    expect(none.stderr()).toMatch(/exports no contracts/)
    expect(await inProcess().run(["asyncapi", "no/such/module.ts"])).toBe(2)
  })
})
