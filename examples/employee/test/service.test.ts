/**
 * The service's promise: a write and its event never drift apart (the
 * outbox: a rejected or rolled-back write publishes nothing), events go out
 * at least once with stable ids and the time they were written, and payroll
 * applies each change once (the inbox) and never lets an older change win.
 * In-process on the memory broker, on SQLite and on PostgreSQL; the browser
 * test covers the same over real brokers.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { codecs, connect, PermanentError, RemoteError, type BatchEntry, type Bus, type Codec, type Message } from "@omnibus/core"
import "@omnibus/memory"
import { createInbox, startRelay, type Database } from "@omnibus/outbox"
import { afterEach, describe, expect, it } from "vitest"
import { ACTIVITY_KEY, parseActivity, type ActivityEvent } from "../src/activity/event.ts"
import type { Component } from "../src/component.ts"
import { EXAMPLE_ROOT, loadConfig, type PlatformConfig } from "../src/config.ts"
import { EmployeeMessageCodec, EmployeeMessageService as rpc, events, type EmployeeMessage } from "../src/contracts/employee.generated.ts"
import { openDatabase } from "../src/database.ts"
import { startService } from "../src/service/index.ts"
import { EMPLOYEE_VERSION_HEADER, EmployeeStore, employeeTables } from "../src/service/store.ts"
import { PayrollLedger, payrollTables } from "../src/subscribers/payroll-ledger.ts"
import { startPayroll } from "../src/subscribers/payroll.ts"
import { POISON_LAST_NAME, PoisonSwitch } from "../src/subscribers/poison.ts"
import { once } from "../src/subscribers/subscriber.ts"
import { openReaders, type Readers } from "./support/databases.ts"
import { createSchema } from "./support/postgres.ts"
import { waitFor } from "./support/wait.ts"

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const DATABASES = [{ database: "SQLite" }, { database: "PostgreSQL" }] as const
type DatabaseName = (typeof DATABASES)[number]["database"]

const setup = async (database: DatabaseName): Promise<{ config: PlatformConfig; bus: Bus; readers: Readers }> => {
  const url = `memory://service-test-${crypto.randomUUID()}`
  const dataDir = mkdtempSync(join(tmpdir(), "employee-test-"))
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }))
  let databaseUrl: string | undefined
  if (database === "PostgreSQL") {
    const schema = await createSchema()
    cleanup.push(() => schema.drop())
    databaseUrl = schema.url
  }
  const config: PlatformConfig = { ...loadConfig("all-memory", { port: 0, dataDir }, {}), rpcUrl: url, eventsUrl: url, databaseUrl }
  const bus = await connect(url)
  cleanup.push(() => bus.close())
  const readers = openReaders(config)
  cleanup.push(() => readers.close())
  return { config, bus, readers }
}

const started = <T extends Component>(c: T): T => {
  cleanup.push(() => c.close())
  return c
}

/** The service's database and store without its RPC handlers, for driving the outbox directly. */
const openStore = async (config: PlatformConfig): Promise<{ db: Database; relayDb: Database; store: EmployeeStore }> => {
  const connection = await openDatabase(config, "employees", employeeTables)
  cleanup.push(() => connection.close())
  return { db: connection.db, relayDb: connection.another(), store: new EmployeeStore(connection.db) }
}

/** Records every employee event a test group receives. */
const record = async (bus: Bus, group = "test-spy"): Promise<Array<Message<EmployeeMessage>>> => {
  const seen: Array<Message<EmployeeMessage>> = []
  const sub = await bus.subscribe("employee.*", (m) => void seen.push(m), { group, codec: EmployeeMessageCodec })
  cleanup.push(() => sub.close())
  return seen
}

const relayed = <R extends { stop(): Promise<void> }>(relay: R): R => {
  cleanup.push(() => relay.stop())
  return relay
}

const quiet = () => {}

describe.each(DATABASES)("employee service on $database", ({ database }) => {
  it("publishes one event per successful write, with the outbox row's id and creation time, and none for a rejected write", async () => {
    const { config, bus, readers } = await setup(database)
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
    expect(await bus.request(rpc.search, { firstName: "Ada", lastName: "Lovelace" })).toEqual({ records: [] })
    expect(await bus.request(rpc.destroy, { guid })).toEqual({ guid, firstName: "Ada", lastName: "King" })
    expect(await bus.request(rpc.search, {})).toEqual({ records: [] })

    await waitFor("three events", () => (seen.length >= 3 ? true : undefined))
    expect(seen.map((m) => [m.routingKey, m.payload.lastName, m.headers[EMPLOYEE_VERSION_HEADER]])).toEqual([
      ["employee.created", "Lovelace", "1"],
      ["employee.updated", "King", "2"],
      ["employee.destroyed", "King", "3"],
    ])
    expect(seen.every((m) => m.key === guid && m.contentType === EmployeeMessageCodec.contentType)).toBe(true)
    await waitFor("the outbox to be marked sent", async () => ((await readers.outboxRows()).every((r) => r.sent) ? true : undefined))
    // Sent rows stay as a record: the same ids, and each message stamped with its row's creation time.
    expect((await readers.outboxRows()).map((r) => [r.id, r.routingKey, r.createdAt])).toEqual(seen.map((m) => [m.id, m.routingKey, m.timestamp]))
  })

  it("publishes nothing for a create that rolls back after its event was written", async () => {
    const { config, bus, readers } = await setup(database)
    const seen = await record(bus)
    const { db, relayDb, store } = await openStore(config)
    // The process dies after the employee row and its outbox row were written, before COMMIT.
    const dying: Database = {
      ...db,
      transaction: (fn) =>
        db.transaction(async (tx) => {
          await fn(tx)
          throw new Error("process died before COMMIT")
        }),
    }
    await expect(new EmployeeStore(dying).create({ guid: "g-lost", firstName: "Never", lastName: "Written" })).rejects.toThrow("before COMMIT")
    await store.create({ guid: "g-kept", firstName: "Kept", lastName: "Written" })
    relayed(startRelay({ db: relayDb, bus, onError: quiet }))

    await waitFor("the kept employee's event", () => (seen.length > 0 ? true : undefined))
    await waitFor("the outbox to be drained", async () => ((await readers.outboxRows()).length === 0 ? true : undefined))
    expect(seen.map((m) => m.key)).toEqual(["g-kept"])
    expect(await readers.serviceRow("g-lost")).toBeUndefined()
  })

  it("keeps events written while the broker refuses publishes and sends them, with the same ids, once it accepts", async () => {
    const { config, bus, readers } = await setup(database)
    const seen = await record(bus)
    let refuse = true
    const failures: Array<unknown> = []
    const flaky: Pick<Bus, "publishBatch"> = { publishBatch: (entries) => (refuse ? Promise.reject(new Error("broker unreachable")) : bus.publishBatch(entries)) }
    const { relayDb, store } = await openStore(config)
    const relay = relayed(startRelay({ db: relayDb, bus: flaky, onError: (e) => void failures.push(e) }))

    const e = await store.create({ guid: "g-1", firstName: "Grace", lastName: "Hopper" })
    relay.notify()
    await waitFor("the relay to hit the refusal", () => (failures.length > 0 ? true : undefined))
    const unsent = await readers.outboxRows()
    expect(unsent.map((r) => [r.messageKey, r.sent])).toEqual([[e.guid, false]])
    expect(seen).toEqual([])

    refuse = false
    await waitFor("the event after the broker recovers", () => (seen.length > 0 ? true : undefined))
    expect(seen.map((m) => m.id)).toEqual([unsent[0]!.id])
    await waitFor("the outbox to be drained", async () => ((await readers.outboxRows()).length === 0 ? true : undefined))
  })

  it("republishes after a crash between the broker's confirm and the cleanup, with the same message id", async () => {
    const { config, bus } = await setup(database)
    const seen = await record(bus)
    const published: Array<string | undefined> = []
    let crashed = false
    // The first batch is confirmed by the broker, then the relay dies before it deletes the rows.
    const crashing: Pick<Bus, "publishBatch"> = {
      publishBatch: async (entries: ReadonlyArray<BatchEntry>) => {
        published.push(...entries.map((e) => e.options?.id))
        const results = await bus.publishBatch(entries)
        if (crashed) return results
        crashed = true
        throw new Error("process died")
      },
    }
    const { relayDb, store } = await openStore(config)
    const relay = relayed(startRelay({ db: relayDb, bus: crashing, backoff: { initialMs: 10 }, onError: quiet }))
    await store.create({ guid: "g-2", firstName: "Katherine", lastName: "Johnson" })
    relay.notify()

    await waitFor("the second publish", async () => (published.length >= 2 && (await relay.stats()).pending === 0 ? true : undefined))
    expect(published[0]).toBeDefined()
    expect(published).toEqual([published[0], published[0]])
    // Consumers see one id however many copies arrive (this broker even drops the copy by id).
    await waitFor("the event", () => (seen.length > 0 ? true : undefined))
    expect(new Set(seen.map((m) => m.id))).toEqual(new Set([published[0]]))
  })
})

describe.each(DATABASES)("payroll on $database", ({ database }) => {
  const publish = (bus: Bus, contract: typeof events.employeeCreated, e: EmployeeMessage, version: number) =>
    bus.publish(contract, e, { key: e.guid, headers: { [EMPLOYEE_VERSION_HEADER]: String(version) } })

  const message = (fields: Partial<Message<EmployeeMessage>> & Pick<Message<EmployeeMessage>, "id" | "routingKey" | "payload">): Message<EmployeeMessage> => ({
    key: fields.payload.guid,
    body: new Uint8Array(),
    contentType: EmployeeMessageCodec.contentType,
    headers: {},
    correlationId: undefined,
    timestamp: Date.now(),
    attempt: 1,
    redeliveries: 0,
    group: "payroll",
    ...fields,
  })

  it("applies a redelivered event once (the inbox, idempotent by message id)", async () => {
    const { config, readers } = await setup(database)
    const connection = await openDatabase(config, "payroll", payrollTables)
    cleanup.push(() => connection.close())
    const { db } = connection
    const inbox = createInbox({ db })
    const applyAs = (instance: string) => {
      const ledger = new PayrollLedger(db.dialect, instance)
      return once(inbox, (m: Message<EmployeeMessage>, tx) => ledger.apply(tx, m))
    }
    const event = message({ id: "m-1", routingKey: "employee.created", headers: { [EMPLOYEE_VERSION_HEADER]: "1" }, payload: { guid: "g", firstName: "Hedy", lastName: "Lamarr" } })
    expect(await applyAs("payroll-1")(event)).toBe("on payroll")
    expect(await applyAs("payroll-2")({ ...event, redeliveries: 1 })).toBe("duplicate") // the other instance, after a redelivery
    expect(await readers.payrollRow("g")).toEqual({ firstName: "Hedy", lastName: "Lamarr" })
    expect(await readers.payrollInstances()).toEqual(["payroll-1"])
    expect(await inbox.handled("payroll", "m-1")).toBe(true)
    // An event payroll cannot use is refused for good (dead letter), and leaves no trace.
    await expect(applyAs("payroll-1")({ ...event, id: "m-2", routingKey: "employee.promoted" })).rejects.toThrow(PermanentError)
    expect(await inbox.handled("payroll", "m-2")).toBe(false)
  })

  it("starts several payroll processes on one fresh database at once (no 'database is locked', no failed CREATE TABLE)", async () => {
    const { config, readers } = await setup(database)
    const location = { dataDir: config.dataDir, databaseUrl: config.databaseUrl }
    const script = `import { createInbox } from "@omnibus/outbox"
import { openDatabase } from ${JSON.stringify(join(EXAMPLE_ROOT, "src/database.ts"))}
import { PayrollLedger, payrollTables } from ${JSON.stringify(join(EXAMPLE_ROOT, "src/subscribers/payroll-ledger.ts"))}
const { db, close } = await openDatabase(${JSON.stringify(location)}, "payroll", payrollTables)
const ledger = new PayrollLedger(db.dialect, "p")
await createInbox({ db }).handler((m, tx) => ledger.apply(tx, m).then(() => undefined))({ id: crypto.randomUUID(), routingKey: "employee.created", headers: {}, group: "payroll", payload: { guid: crypto.randomUUID(), firstName: "A", lastName: "B" } })
await close()`
    const run = () => new Promise<number | null>((resolve) => {
      // Run from the example, whose package.json resolves @omnibus/outbox.
      const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "--input-type=module", "--eval", script], { cwd: EXAMPLE_ROOT, stdio: ["ignore", "ignore", "inherit"] })
      child.once("exit", resolve)
    })
    const codes = await Promise.all(Array.from({ length: 12 }, run))
    expect(codes).toEqual(codes.map(() => 0))
    expect(await readers.payrollInstances()).toEqual(["p"])
  })

  it("never lets an older change win when events arrive out of order", async () => {
    const { config, bus, readers } = await setup(database)
    const log: Array<string> = []
    started(await startPayroll(config, "payroll-1", (l) => log.push(l)))

    await publish(bus, events.employeeUpdated, { guid: "g", firstName: "Mary", lastName: "Jackson" }, 5)
    await publish(bus, events.employeeCreated, { guid: "g", firstName: "Mary", lastName: "Old" }, 3)
    await waitFor("two events", () => (log.length >= 2 ? true : undefined))
    expect(await readers.payrollRow("g")).toEqual({ firstName: "Mary", lastName: "Jackson" })

    await publish(bus, events.employeeDestroyed, { guid: "g", firstName: "Mary", lastName: "Jackson" }, 7)
    await publish(bus, events.employeeUpdated, { guid: "g", firstName: "Mary", lastName: "Zombie" }, 6)
    await waitFor("four events", () => (log.length >= 4 ? true : undefined))
    expect(await readers.payrollRow("g")).toBeUndefined()
    expect(log).toEqual(["employee.updated g: on payroll", "employee.created g: stale", "employee.destroyed g: off payroll", "employee.updated g: stale"])
  })

  it("retries, then dead-letters a Poison employee while the switch is on; switched off by RPC, its replay is applied", async () => {
    const { config, bus, readers } = await setup(database)
    const activity: Array<ActivityEvent> = []
    const spy = await bus.subscribe<unknown>(ACTIVITY_KEY, (m) => void activity.push(parseActivity(m.payload)!), { codec: codecs.json })
    cleanup.push(() => spy.close())
    started(await startPayroll(config, "payroll-1", quiet))
    expect(await bus.request(PoisonSwitch.get, {})).toEqual({ enabled: true })

    const { id } = await publish(bus, events.employeeCreated, { guid: "g-p", firstName: "Mithridates", lastName: POISON_LAST_NAME }, 1)
    const dead = await waitFor("the dead letter", async () => (await bus.deadLetters.list("payroll")).find((d) => d.id === id))
    expect(dead.failure).toMatchObject({ errorName: "PoisonedEmployee", errorCode: "poison", attempts: 5 })
    expect(await readers.payrollRow("g-p")).toBeUndefined()

    expect(await bus.request(PoisonSwitch.set, { enabled: false })).toEqual({ enabled: false })
    expect(await bus.request(PoisonSwitch.get, {})).toEqual({ enabled: false })
    expect(await bus.deadLetters.replay("payroll", { ids: [id] })).toBe(1)
    await waitFor("the replayed event", () => readers.payrollRow("g-p"))
    // Every outcome was reported for the Activity page, by this instance, naming the broker.
    await waitFor("the handled activity", () => (activity.some((e) => e.id === id && e.type === "handled") ? true : undefined))
    expect(activity.filter((e) => e.id === id).map((e) => [e.type, e.attempt])).toEqual([["retry", 1], ["retry", 2], ["retry", 3], ["retry", 4], ["dead-letter", 5], ["handled", 1]])
    expect(activity.every((e) => e.source === "payroll-1" && e.group === "payroll" && e.broker === "memory")).toBe(true)
  })

  it("dead-letters a payload that is not an EmployeeMessage and keeps working", async () => {
    const { config, bus, readers } = await setup(database)
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
    await waitFor("the next valid event", () => readers.payrollRow("g-ok"))
    expect(log).toEqual(["employee.created g-ok: on payroll"])
  })
})
