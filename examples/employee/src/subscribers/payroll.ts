/**
 * Payroll on the bus: instances share the "payroll" group (competing
 * consumers, each event goes to one of them) and one database; each event is
 * applied once (the inbox: the ledger's writes and the "handled" mark commit
 * together) and never an older change over a newer one (payroll-ledger.ts).
 * While the Poison switch is on, an employee named "Poison" is refused, to
 * show the dead-letter path (poison.ts); every instance also serves the
 * switch's RPCs.
 */
import type { Message } from "@omnibus/core"
import { allRegistered, type Component, type Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageCodec, type EmployeeMessage } from "../contracts/employee.generated.ts"
import { PayrollLedger, payrollTables } from "./payroll-ledger.ts"
import { PoisonRule, poisonTables } from "./poison.ts"
import { once, startSubscriber } from "./subscriber.ts"

export const PAYROLL_GROUP = "payroll"

export const startPayroll = (config: PlatformConfig, instance: string, log: Log): Promise<Component> =>
  startSubscriber(config, "payroll", instance, () => [...payrollTables(), ...poisonTables()], log, ({ db, inbox, buses, activity }) => {
    const ledger = new PayrollLedger(db.dialect, instance)
    const poison = new PoisonRule(db.dialect)
    const apply = once(inbox, async (m: Message<EmployeeMessage>, tx) => {
      await poison.check(tx, m.payload)
      return ledger.apply(tx, m)
    })
    return allRegistered([
      buses.events.subscribe("employee.*", async (m) => {
        log(`${m.routingKey} ${m.payload.guid ?? "?"}: ${await apply(m)}`)
      }, { group: PAYROLL_GROUP, codec: EmployeeMessageCodec, concurrency: 4, orderBy: "key", idempotency: inbox.store, observe: activity.observe }),
      poison.serve(buses.rpc, db),
    ])
  })
