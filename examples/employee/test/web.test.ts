/**
 * The web app when the service is missing, slow or says no: clear pages with
 * the right status instead of hangs or crashes. In-process on the memory
 * broker, with a stand-in service where one is needed.
 */
import { connect, type Bus, type Subscription } from "@omnibus/core"
import "@omnibus/memory"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { loadConfig } from "../src/config.ts"
import { EmployeeMessageService as rpc } from "../src/contracts/employee.generated.ts"
import { EmployeeError } from "../src/service/errors.ts"
import { startWeb, type WebServer } from "../src/web/server.ts"

let bus: Bus
let web: WebServer
const servers: Array<Subscription> = []
const logged: Array<string> = []

beforeEach(async () => {
  bus = await connect(`memory://web-test-${crypto.randomUUID()}`)
  const config = { ...loadConfig("all-memory", { port: 0, dataDir: "/nonexistent" }), requestTimeoutMs: 300 }
  web = await startWeb(config, (l) => logged.push(l), bus)
})

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
  await web.close()
  await bus.close()
  logged.length = 0
})

const get = async (path: string) => {
  const res = await fetch(new URL(path, web.url))
  return { status: res.status, body: await res.text(), headers: res.headers }
}

describe("web app", () => {
  it("answers 503 with a clear page when no employee service is running", async () => {
    const { status, body } = await get("/employees")
    expect(status).toBe(503)
    expect(body).toContain("Employee service unavailable")
    expect(body).toContain("No employee service is running right now")
  })

  it("answers 503 when the service does not answer in time, without waiting longer", async () => {
    let release!: () => void
    const stuck = new Promise<void>((r) => (release = r))
    servers.push(await bus.handle(rpc.search, async () => {
      await stuck
      return { records: [] }
    }))
    const started = Date.now()
    const { status, body } = await get("/employees")
    release()
    expect(status).toBe(503)
    expect(body).toContain("did not answer within 300 ms")
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it("answers 404 for an unknown employee and shows the service's validation errors on the form", async () => {
    servers.push(
      await bus.handle(rpc.search, () => ({ records: [] })),
      await bus.handle(rpc.create, () => {
        throw new EmployeeError("invalid", "First name can't be blank")
      }),
    )
    expect((await get("/employees/nobody")).status).toBe(404)
    const form = await fetch(new URL("/employees/new", web.url))
    const cookie = form.headers.get("set-cookie")!.split(";")[0]!
    const token = /name="authenticity_token" value="([0-9a-f]+)"/.exec(await form.text())![1]!
    const res = await fetch(new URL("/employees", web.url), {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ authenticity_token: token, guid: "g-1", first_name: "", last_name: "<b>x</b>" }),
      redirect: "manual",
    })
    const body = await res.text()
    expect(res.status).toBe(422)
    expect(body).toContain("First name can&#39;t be blank")
    expect(body).toContain('value="&lt;b&gt;x&lt;/b&gt;"') // what the user typed comes back, escaped
  })

  it("refuses a form post without this site's authenticity token", async () => {
    const res = await fetch(new URL("/employees", web.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ guid: "g", first_name: "A", last_name: "B" }),
      redirect: "manual",
    })
    expect(res.status).toBe(422)
  })

  it("sends a content security policy that forbids inline scripts", async () => {
    servers.push(await bus.handle(rpc.search, () => ({ records: [] })))
    const { status, headers } = await get("/employees")
    expect(status).toBe(200)
    expect(headers.get("content-security-policy")).toContain("script-src 'self'")
  })
})
