/** The committed contracts module is exactly what the generator makes from the .proto. */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { EXAMPLE_ROOT } from "../src/config.ts"
import { EmployeeMessageService, events } from "../src/contracts/employee.generated.ts"

describe("generated contracts", () => {
  it("regenerating from proto/employee_message.proto gives the committed text", () => {
    // The package.json "generate" script is the one place the generator's options live.
    const script = (JSON.parse(readFileSync(join(EXAMPLE_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["generate"]!
    const [node, ...args] = script.split(" ")
    expect(node).toBe("node")
    const run = () => execFileSync(process.execPath, [...args, "--check"], { cwd: EXAMPLE_ROOT, stdio: "pipe" })
    expect(run).not.toThrow()
  })

  it("names the RPC methods and events the platform uses", () => {
    expect(Object.values(EmployeeMessageService).map((c) => c.method)).toEqual(["employee.search", "employee.create", "employee.update", "employee.destroy"])
    expect(Object.values(events).map((c) => c.key)).toEqual(["employee.created", "employee.updated", "employee.destroyed"])
  })
})
