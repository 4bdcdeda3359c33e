/**
 * The web app when the service is missing, slow or says no: clear pages with
 * the right status instead of hangs or crashes. In-process on the memory
 * broker, with a stand-in service where one is needed.
 */
import { connect, PermanentError, type Bus, type Subscription } from "@omnibus/core"
import "@omnibus/memory"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ACTIVITY, type ActivityEvent } from "../src/activity/event.ts"
import { loadConfig } from "../src/config.ts"
import { EmployeeMessageService as rpc } from "../src/contracts/employee.generated.ts"
import { EmployeeError } from "../src/service/errors.ts"
import { startWeb, type WebServer } from "../src/web/server.ts"
import { waitFor } from "./support/wait.ts"

let bus: Bus
let web: WebServer
const servers: Array<Subscription> = []
const logged: Array<string> = []

beforeEach(async () => {
  bus = await connect(`memory://web-test-${crypto.randomUUID()}`)
  const config = { ...loadConfig("all-memory", { port: 0, dataDir: "/nonexistent" }), requestTimeoutMs: 300 }
  web = await startWeb(config, (l) => logged.push(l), { rpc: bus, events: bus })
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

/** Posts a form as a browser would: with this site's cookie and token unless `token` is false. */
const post = async (path: string, fields: Record<string, string>, token = true) => {
  const page = await fetch(new URL("/employees/new", web.url))
  const cookie = page.headers.get("set-cookie")!.split(";")[0]!
  const authenticity = /name="authenticity_token" value="([0-9a-f]+)"/.exec(await page.text())![1]!
  const res = await fetch(new URL(path, web.url), {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ ...fields, ...(token ? { authenticity_token: authenticity } : {}) }),
    redirect: "manual",
  })
  return { status: res.status, location: res.headers.get("location"), body: await res.text() }
}

/** A group "audit" whose handler refuses everything, and one JSON dead letter in it. */
const deadLetter = async (payload: unknown): Promise<string> => {
  servers.push(await bus.subscribe("employee.*", () => {
    throw new PermanentError("refused by the test")
  }, { group: "audit" }))
  const { id } = await bus.publish("employee.created", payload)
  await waitFor("the dead letter", async () => ((await bus.deadLetters.list("audit")).some((d) => d.id === id) ? true : undefined))
  return id
}

/** Reads an event stream until `done` holds for what arrived, with a deadline. */
const readStream = async (body: ReadableStream<Uint8Array>, done: (text: string) => boolean, timeoutMs = 5_000): Promise<string> => {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ""
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs)
  try {
    while (!done(text)) {
      const chunk = await reader.read()
      if (chunk.done) throw new Error(`stream ended before the condition held; it sent:\n${text}`)
      text += decoder.decode(chunk.value, { stream: true })
    }
    return text
  } finally {
    clearTimeout(deadline)
    reader.releaseLock()
  }
}

const activity = (id: string): ActivityEvent => ({ type: "handled", source: "payroll-1", broker: "memory", id, routingKey: "employee.created", group: "payroll", at: Date.now() })

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

  it("refuses the operations forms without this site's authenticity token, and changes nothing", async () => {
    const id = await deadLetter({ guid: "g" })
    for (const [path, fields] of [["/dead-letters/audit/replay", { id }], ["/dead-letters/audit/purge", {}], ["/dead-letters/payroll/poison-switch", { enabled: "off" }]] as const) {
      expect((await post(path, fields, false)).status).toBe(422)
    }
    expect((await bus.deadLetters.list("audit")).map((d) => d.id)).toEqual([id])
    const replayed = await post("/dead-letters/audit/replay", { id })
    expect([replayed.status, replayed.location]).toEqual([303, "/dead-letters/audit"])
  })

  it("lists a group's dead letters and shows one with its payload decoded and escaped", async () => {
    const id = await deadLetter({ guid: "g", firstName: "<script>alert(1)</script>" })
    const list = await get("/dead-letters/audit")
    expect(list.status).toBe(200)
    expect(list.body).toContain(`<tr data-id="${id}">`)
    expect(list.body).toContain("refused by the test")
    const one = await get(`/dead-letters/audit/${id}`)
    expect(one.status).toBe(200)
    expect(one.body).toContain("decoded as JSON")
    expect(one.body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(one.body).not.toContain("<script>alert")
    expect((await get("/dead-letters/audit/no-such-id")).status).toBe(404)
    expect((await get("/dead-letters/billing")).status).toBe(404)
    // Without payroll the switch's state is unknown, and the page still works.
    const payroll = await get("/dead-letters/payroll")
    expect(payroll.status).toBe(200)
    expect(payroll.body).toContain('data-enabled="unknown"')
  })

  it("streams activity events as they arrive, resumes after Last-Event-ID, and ends open streams when it closes", async () => {
    const first = await fetch(new URL("/activity/events", web.url))
    expect(first.headers.get("content-type")).toBe("text/event-stream; charset=utf-8")
    await bus.publish(ACTIVITY, activity("m-1"))
    const text = await readStream(first.body!, (t) => t.includes('"id":"m-1"'))
    const rev = /^id: (\d+)$/m.exec(text)![1]!
    await first.body!.cancel()

    // A reconnecting browser sends the last id it saw: only what came after (from the ring, or live).
    await bus.publish(ACTIVITY, activity("m-2"))
    const resumed = await fetch(new URL("/activity/events", web.url), { headers: { "last-event-id": rev } })
    const after = await readStream(resumed.body!, (t) => t.includes('"id":"m-2"'))
    expect(after).not.toContain('"id":"m-1"')

    // Closing the server ends an open stream cleanly (not cut with its socket, which would fail the read), at once.
    const reader = resumed.body!.getReader()
    const started = Date.now()
    const closing = web.close()
    while (!(await reader.read()).done);
    expect(Date.now() - started).toBeLessThan(1_000)
    await closing
    web = await startWeb({ ...loadConfig("all-memory", { port: 0, dataDir: "/nonexistent" }), requestTimeoutMs: 300 }, (l) => logged.push(l), { rpc: bus, events: bus })
  })

  it("sends a content security policy that forbids inline scripts", async () => {
    servers.push(await bus.handle(rpc.search, () => ({ records: [] })))
    const { status, headers } = await get("/employees")
    expect(status).toBe(200)
    expect(headers.get("content-security-policy")).toContain("script-src 'self'")
  })
})
