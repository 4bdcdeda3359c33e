// The Promise API with typed contracts and the testing helpers.
import { connect, MemoryIdempotencyStore, PermanentError, type Bus, type Message } from "@omnibus/core"
import { spy } from "@omnibus/core/testing"
import { auditLogged, employeeCreated, searchEmployees, type EmployeeCreated } from "./contracts.js"

export const runPromiseApi = async (url: string, prefix: string): Promise<void> => {
  const bus: Bus = await connect(url)
  const created = employeeCreated(prefix)
  const seen = spy<EmployeeCreated>((m: Message<EmployeeCreated>) => {
    if (m.payload.name.length === 0) throw new PermanentError("nameless employee")
  })
  const sub = await bus.subscribe(created, seen.handler, {
    group: `${prefix}-payroll`,
    observe: seen.observe,
    orderBy: "key",
    idempotency: new MemoryIdempotencyStore(),
    retry: { attempts: 3, backoff: { initial: "10 millis", factor: 2, max: "1 second", jitter: true } },
  })
  const receipt = await bus.publish(created, { guid: "e-1", name: "Grace Hopper" }, { key: "e-1" })
  const message = await seen.waitFor(receipt.id, 5_000)
  const guid: string = message.payload.guid

  const server = await bus.handle(searchEmployees(prefix), (req) => ({ records: [{ guid, name: `x ${req.payload.lastName}` }] }))
  const reply = await bus.request(searchEmployees(prefix), { lastName: "Hopper" }, { timeout: "5 seconds" })
  const first: EmployeeCreated | undefined = reply.records[0]
  if (first?.guid !== guid) throw new Error(`unexpected reply ${JSON.stringify(reply)}`)

  await bus.publish(auditLogged(prefix), { anything: ["goes"] })
  await sub.close()
  await server.close()
  await bus.close()
}
