/**
 * Payroll on the bus: instances share the "payroll" group (competing
 * consumers, each event goes to one of them) and one database; each event is
 * applied once (the inbox: the ledger's writes and the "handled" mark commit
 * together) and never an older change over a newer one (payroll-ledger.ts).
 */
import type { Message } from "@omnibus/core"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageCodec, type EmployeeMessage } from "../contracts/employee.generated.ts"
import { PayrollLedger, payrollTables } from "./payroll-ledger.ts"
import { once, startSubscriber } from "./subscriber.ts"

export const PAYROLL_GROUP = "payroll"

export const startPayroll = (config: PlatformConfig, instance: string, log: Log): Promise<Component> =>
  startSubscriber(config, "payroll", payrollTables, log, ({ db, inbox, buses }) => {
    const ledger = new PayrollLedger(db.dialect, instance)
    const apply = once(inbox, (m: Message<EmployeeMessage>, tx) => ledger.apply(tx, m))
    return buses.events.subscribe("employee.*", async (m) => {
      log(`${m.routingKey} ${m.payload.guid ?? "?"}: ${await apply(m)}`)
    }, { group: PAYROLL_GROUP, codec: EmployeeMessageCodec, concurrency: 4, orderBy: "key", idempotency: inbox.store })
  })
