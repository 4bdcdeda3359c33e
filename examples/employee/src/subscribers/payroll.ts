/**
 * Payroll on the bus: instances share the "payroll" group (competing
 * consumers, each event goes to one of them) and one SQLite file; the rules
 * (idempotent by message id, never an older change over a newer one) are in
 * payroll-ledger.ts.
 */
import { join } from "node:path"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageCodec } from "../contracts/employee.generated.ts"
import { startSubscriber } from "./subscriber.ts"
import { PayrollLedger } from "./payroll-ledger.ts"

export const PAYROLL_GROUP = "payroll"

export const payrollDatabase = (config: PlatformConfig): string => join(config.dataDir, "payroll.db")

export const startPayroll = (config: PlatformConfig, instance: string, log: Log): Promise<Component> =>
  startSubscriber(config, payrollDatabase(config), (db, buses) => {
    const ledger = new PayrollLedger(db, instance)
    return buses.events.subscribe("employee.*", (m) => {
      log(`${m.routingKey} ${m.payload.guid ?? "?"}: ${ledger.apply(m)}`)
    }, { group: PAYROLL_GROUP, codec: EmployeeMessageCodec, concurrency: 4, orderBy: "key" })
  })
