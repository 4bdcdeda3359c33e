/**
 * The employee platform, reduced to its message flow until the full example
 * (SQLite service, web pages, protobuf) lands: an "employee service" answers
 * employee.search by RPC and publishes employee.created/updated events; an
 * audit logger and a payroll subscriber each get every event (fan-out).
 * The broker comes from OMNIBUS_URL (default: the embedded memory broker).
 */
import { connect, jsonOf, defineEvent, defineRpc } from "@omnibus/core"

interface Employee { readonly guid: string; readonly firstName: string; readonly lastName: string }

const created = defineEvent("employee.created", jsonOf<Employee>())
const updated = defineEvent("employee.updated", jsonOf<Employee>())
const search = defineRpc("employee.search", jsonOf<{ readonly lastName?: string }>(), jsonOf<{ readonly records: ReadonlyArray<Employee> }>())

const url = process.env.OMNIBUS_URL ?? "memory://"
const bus = await connect(url)
console.log(`employee platform on ${bus.transport}`)

const employees = new Map<string, Employee>()
await bus.handle(search, ({ payload }) => ({
  records: [...employees.values()].filter((e) => payload.lastName === undefined || e.lastName === payload.lastName),
}), { group: "employee-service" })

let seen = 0
const expected = 6
let finish!: () => void
const allSeen = new Promise<void>((r) => (finish = r))
const tick = () => { if (++seen === expected) finish() }

await bus.subscribe("employee.*", (m) => {
  console.log(`[audit]   ${m.routingKey} ${JSON.stringify(m.payload)}`)
  tick()
}, { group: "audit" })
const payroll = new Map<string, string>()
await bus.subscribe("employee.*", (m) => {
  const e = m.payload as Employee
  payroll.set(e.guid, `${e.firstName} ${e.lastName}`)
  console.log(`[payroll] ${payroll.size} on payroll after ${m.routingKey}`)
  tick()
}, { group: "payroll" })

const people: Array<Employee> = [
  { guid: crypto.randomUUID(), firstName: "Ada", lastName: "Lovelace" },
  { guid: crypto.randomUUID(), firstName: "Grace", lastName: "Hopper" },
]
for (const e of people) {
  employees.set(e.guid, e)
  await bus.publish(created, e, { key: e.guid })
}
const renamed = { ...people[1]!, lastName: "Murray Hopper" }
employees.set(renamed.guid, renamed)
await bus.publish(updated, renamed, { key: renamed.guid })

const found = await bus.request(search, { lastName: "Lovelace" }, { timeout: "2 seconds" })
console.log(`[web]     search Lovelace -> ${found.records.map((e) => e.firstName).join(", ")}`)

await allSeen
await bus.close()
console.log("done: every event reached audit and payroll")
