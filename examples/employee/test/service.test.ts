/**
 * The service's promise: a write and its event never drift apart (outbox),
 * events go out at least once with stable ids, and payroll applies each
 * change once and never lets an older change win. In-process on the memory
 * broker; the browser test covers the same over real brokers.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { connect, PermanentError, RemoteError, type Bus, type Codec, type Message } from "@omnibus/core"
import "@omnibus/memory"
import { afterEach, describe, expect, it } from "vitest"
import type { Component } from "../src/component.ts"
import { EXAMPLE_ROOT, loadConfig, type PlatformConfig } from "../src/config.ts"
import { EmployeeMessageCodec, EmployeeMessageService as rpc, events, type EmployeeMessage } from "../src/contracts/employee.generated.ts"
import { startService, serviceDatabase } from "../src/service/index.ts"
import { OUTBOX_SEQ_HEADER, OutboxRelay } from "../src/service/outbox.ts"
import { EmployeeStore } from "../src/service/store.ts"
import { openDatabase, textColumn } from "../src/sqlite.ts"
import { PayrollLedger } from "../src/subscribers/payroll-ledger.ts"
import { startPayroll } from "../src/subscribers/payroll.ts"
import { payrollRow } from "./support/databases.ts"
import { waitFor } from "./support/wait.ts"

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const setup = async (): Promise<{ config: PlatformConfig; bus: Bus }> => {
  const url = `memory://service-test-${crypto.randomUUID()}`
  const config: PlatformConfig = { ...loadConfig("all-memory", { port: 0, dataDir: mkdtempSync(join(tmpdir(), "employee-test-")) }), rpcUrl: url, eventsUrl: url }
  cleanup.push(() => rmSync(config.dataDir, { recursive: true, force: true }))
  const bus = await connect(url)
  cleanup.push(() => bus.close())
  return { config, bus }
}

const started = <T extends Component>(c: T): T => {
  cleanup.push(() => c.close())
  return c
}

/** Records every employee event a test group receives. */
const record = async (bus: Bus, group = "test-spy"): Promise<Array<Message<EmployeeMessage>>> => {
  const seen: Array<Message<EmployeeMessage>> = []
  const sub = await bus.subscribe("employee.*", (m) => void seen.push(m), { group, codec: EmployeeMessageCodec })
  cleanup.push(() => sub.close())
  return seen
}

const outboxRows = (config: PlatformConfig) => {
  const db = new DatabaseSync(serviceDatabase(config), { readOnly: true })
  try {
    return db.prepare("SELECT id, routing_key, sent_at FROM outbox ORDER BY seq").all().map((r) => ({ id: textColumn(r, "id"), routingKey: textColumn(r, "routing_key"), sent: r["sent_at"] !== null }))
  } finally {
    db.close()
  }
}

const quiet = () => {}

describe("employee service", () => {
  it("publishes one event per successful write, with the outbox row's id as message id, and none for a rejected write", async () => {
    const { config, bus } = await setup()
    const seen = await record(bus)
    started(await startService(config, quiet))

    const guid = crypto.randomUUID()
    expect(await bus.request(rpc.create, { guid, firstName: "Ada", lastName: "Lovelace" })).toEqual({ guid, firstName: "Ada", lastName: "Lovelace" })
    const rejected = await bus.request(rpc.create, { guid: crypto.randomUUID(), firstName: " ", lastName: "X" }).catch((e: unknown) => e)
    expect(rejected).toBeInstanceOf(RemoteError)
    expect((rejected as RemoteError).code).toBe("invalid")
    const duplicate = await bus.request(rpc.create, { guid, firstName: "Ada", lastName: "Again" }).catch((e: unknown) => e)
    expect((duplicate as RemoteError).code).toBe("exists")
    expect(await bus.request(rpc.update, { guid, lastName: "King" })).toEqual({ guid, firstName: "Ada", lastName: "King" })
    const missing = await bus.request(rpc.update, { guid: "nobody", firstName: "A" }).catch((e: unknown) => e)
    expect((missing as RemoteError).code).toBe("not_found")
    expect(await bus.request(rpc.search, { lastName: "King" })).toEqual({ records: [{ guid, firstName: "Ada", lastName: "King" }] })
    expect(await bus.request(rpc.destroy, { guid })).toEqual({ guid, firstName: "Ada", lastName: "King" })
    expect(await bus.request(rpc.search, {})).toEqual({ records: [] })

    await waitFor("three events", () => (seen.length >= 3 ? true : undefined))
    expect(seen.map((m) => [m.routingKey, m.payload.lastName])).toEqual([["employee.created", "Lovelace"], ["employee.updated", "King"], ["employee.destroyed", "King"]])
    expect(seen.every((m) => m.key === guid && m.contentType === EmployeeMessageCodec.contentType)).toBe(true)
    await waitFor("the outbox to be marked sent", () => (outboxRows(config).every((r) => r.sent) ? true : undefined))
    expect(outboxRows(config).map((r) => [r.id, r.routingKey])).toEqual(seen.map((m) => [m.id, m.routingKey]))
  })

  it("keeps events written while the broker refuses publishes and sends them, with the same ids, once it accepts", async () => {
    const { config, bus } = await setup()
    const seen = await record(bus)
    let refuse = true
    const failures: Array<string> = []
    const flaky: Bus = { ...bus, publishBatch: (entries) => (refuse ? Promise.reject(new Error("broker unreachable")) : bus.publishBatch(entries)) }
    const store = new EmployeeStore(openDatabase(serviceDatabase(config)))
    cleanup.push(() => store.db.close())
    const relay = new OutboxRelay(store, flaky, { log: (l) => failures.push(l) })
    cleanup.push(() => relay.stop())
    relay.start()

    const e = store.create({ guid: "g-1", firstName: "Grace", lastName: "Hopper" })
    relay.notify()
    await waitFor("the relay to hit the refusal", () => (failures.length > 0 ? true : undefined))
    expect(store.unsent(10).map((r) => r.messageKey)).toEqual([e.guid])
    const id = store.unsent(10)[0]!.id
    expect(seen).toEqual([])

    refuse = false
    await waitFor("the event after the broker recovers", () => (seen.length > 0 ? true : undefined))
    expect(seen.map((m) => m.id)).toEqual([id])
    expect(store.unsent(10)).toEqual([])
  })

  it("republishes after a crash between publish and mark-sent, with the same message id", async () => {
    const { config, bus } = await setup()
    const seen = await record(bus)
    const published: Array<string | undefined> = []
    const counting: Bus = { ...bus, publishBatch: (entries) => {
      published.push(...entries.map((e) => e.options?.id))
      return bus.publishBatch(entries)
    } }
    const store = new EmployeeStore(openDatabase(serviceDatabase(config)))
    cleanup.push(() => store.db.close())
    // The first mark-sent fails as if the process died right after the broker confirmed.
    const markSent = store.markSent.bind(store)
    let crashed = false
    store.markSent = (ids) => {
      if (!crashed) {
        crashed = true
        throw new Error("process died")
      }
      markSent(ids)
    }
    const relay = new OutboxRelay(store, counting, { log: quiet })
    cleanup.push(() => relay.stop())
    relay.start()
    store.create({ guid: "g-2", firstName: "Katherine", lastName: "Johnson" })
    relay.notify()

    await waitFor("the second publish", () => (published.length >= 2 && store.unsent(10).length === 0 ? true : undefined))
    expect(published[0]).toBeDefined()
    expect(published).toEqual([published[0], published[0]])
    // Consumers see one id however many copies arrive (this broker even drops the copy by id).
    await waitFor("the event", () => (seen.length > 0 ? true : undefined))
    expect(new Set(seen.map((m) => m.id))).toEqual(new Set([published[0]]))
  })
})

describe("payroll", () => {
  const publish = (bus: Bus, contract: typeof events.employeeCreated, e: EmployeeMessage, seq: number) =>
    bus.publish(contract, e, { key: e.guid, headers: { [OUTBOX_SEQ_HEADER]: String(seq) } })

  it("applies a redelivered event once (idempotent by message id)", async () => {
    const { config } = await setup()
    const db = openDatabase(join(config.dataDir, "ledger.db"))
    cleanup.push(() => db.close())
    const ledger = new PayrollLedger(db, "payroll-1")
    const event = { id: "m-1", routingKey: "employee.created", headers: { [OUTBOX_SEQ_HEADER]: "1" }, payload: { guid: "g", firstName: "Hedy", lastName: "Lamarr" } }
    expect(ledger.apply(event)).toBe("on payroll")
    expect(new PayrollLedger(db, "payroll-2").apply(event)).toBe("duplicate") // the other instance, after a redelivery
    expect(db.prepare("SELECT last_name, instance FROM payroll WHERE guid = 'g'").all()).toEqual([{ last_name: "Lamarr", instance: "payroll-1" }])
    expect(db.prepare("SELECT count(*) AS n FROM payroll_inbox").get()?.["n"]).toBe(1)
    // An event payroll cannot use is refused for good (dead letter), and leaves no trace.
    expect(() => ledger.apply({ ...event, id: "m-2", routingKey: "employee.promoted" })).toThrow(PermanentError)
    expect(db.prepare("SELECT count(*) AS n FROM payroll_inbox").get()?.["n"]).toBe(1)
  })

  it("starts several payroll processes on one fresh database at once (no 'database is locked')", async () => {
    const { config } = await setup()
    const file = join(config.dataDir, "payroll.db")
    const script = `import { openDatabase } from ${JSON.stringify(join(EXAMPLE_ROOT, "src/sqlite.ts"))}
import { PayrollLedger } from ${JSON.stringify(join(EXAMPLE_ROOT, "src/subscribers/payroll-ledger.ts"))}
new PayrollLedger(openDatabase(${JSON.stringify(file)}), "p").apply({ id: crypto.randomUUID(), routingKey: "employee.created", headers: {}, payload: { guid: crypto.randomUUID(), firstName: "A", lastName: "B" } })`
    const run = () => new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "--input-type=module", "--eval", script], { stdio: ["ignore", "ignore", "inherit"] })
      child.once("exit", resolve)
    })
    const codes = await Promise.all(Array.from({ length: 12 }, run))
    expect(codes).toEqual(codes.map(() => 0))
  })

  it("never lets an older change win when events arrive out of order", async () => {
    const { config, bus } = await setup()
    const log: Array<string> = []
    started(await startPayroll(config, "payroll-1", (l) => log.push(l)))

    await publish(bus, events.employeeUpdated, { guid: "g", firstName: "Mary", lastName: "Jackson" }, 5)
    await publish(bus, events.employeeCreated, { guid: "g", firstName: "Mary", lastName: "Old" }, 3)
    await waitFor("two events", () => (log.length >= 2 ? true : undefined))
    expect(payrollRow(config.dataDir, "g")).toEqual({ firstName: "Mary", lastName: "Jackson" })

    await publish(bus, events.employeeDestroyed, { guid: "g", firstName: "Mary", lastName: "Jackson" }, 7)
    await publish(bus, events.employeeUpdated, { guid: "g", firstName: "Mary", lastName: "Zombie" }, 6)
    await waitFor("four events", () => (log.length >= 4 ? true : undefined))
    expect(payrollRow(config.dataDir, "g")).toBeUndefined()
    expect(log).toEqual(["employee.updated g: on payroll", "employee.created g: stale", "employee.destroyed g: off payroll", "employee.updated g: stale"])
  })

  it("dead-letters a payload that is not an EmployeeMessage and keeps working", async () => {
    const { config, bus } = await setup()
    const log: Array<string> = []
    started(await startPayroll(config, "payroll-1", (l) => log.push(l)))
    const raw: Codec<Uint8Array> = { contentType: EmployeeMessageCodec.contentType, encode: (b) => b, decode: (b) => b }
    await bus.publish("employee.created", new TextEncoder().encode("definitely not protobuf"), { codec: raw, key: "g" })
    const dead = await waitFor("the dead letter", async () => {
      const list = await bus.deadLetters.list("payroll")
      return list.length > 0 ? list : undefined
    })
    expect(dead[0]!.failure.errorName).toBe("DecodeFailed")
    expect(dead[0]!.failure.attempts).toBe(1)
    await publish(bus, events.employeeCreated, { guid: "g-ok", firstName: "Dorothy", lastName: "Vaughan" }, 1)
    await waitFor("the next valid event", () => payrollRow(config.dataDir, "g-ok"))
    expect(log).toEqual(["employee.created g-ok: on payroll"])
  })
})
