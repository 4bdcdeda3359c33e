/**
 * The "Poison" switch, for showing the dead-letter path and its fix: while it
 * is on, payroll refuses every event of an employee whose last name is
 * "Poison". The refusal is an ordinary error, so the bus retries it (the
 * retry policy's attempts, with backoff) and then dead-letters it; turn the
 * switch off and replay the dead letter (the Dead letters page, or
 * `omnibus dlq replay payroll`), and payroll takes it.
 *
 * The switch is a row in payroll's database, which every payroll instance
 * shares and reads in the transaction that would apply the event. It is
 * changed by RPC (`payroll.poison.set`, served by any one payroll instance):
 * the reply says the change is stored, so the web app never shows a state that
 * some instance does not have yet. Missing row = on.
 */
import { defineRpc, jsonOf, type Bus, type Subscription } from "@omnibus/core"
import type { Dialect, SqlClient } from "@omnibus/outbox"
import type { EmployeeMessage } from "../contracts/employee.generated.ts"
import { allRegistered } from "../component.ts"
import { integerColumn, sqlFor } from "../database.ts"

export const POISON_LAST_NAME = "Poison"

export interface PoisonSwitchState {
  readonly enabled: boolean
}

export const PoisonSwitch = {
  get: defineRpc("payroll.poison.get", jsonOf<Record<string, never>>(), jsonOf<PoisonSwitchState>()),
  set: defineRpc("payroll.poison.set", jsonOf<PoisonSwitchState>(), jsonOf<PoisonSwitchState>()),
} as const

/** The servers' group: the payroll instances share the switch's requests. */
export const POISON_SWITCH_GROUP = "payroll-switch"

export const poisonTables = (): ReadonlyArray<string> => [
  `CREATE TABLE IF NOT EXISTS payroll_switches (
  name    TEXT PRIMARY KEY,
  enabled BIGINT NOT NULL  -- 1 on, 0 off
)`,
]

/** What payroll throws for a poisoned employee: not a PermanentError, so it is retried before it is dead-lettered. */
export class PoisonedEmployee extends Error {
  readonly code = "poison"
  constructor(guid: string | undefined) {
    super(`payroll refuses employee ${guid ?? "?"}: last name "${POISON_LAST_NAME}" while the Poison switch is on`)
    this.name = "PoisonedEmployee"
  }
}

const SWITCH = "poison"

export class PoisonRule {
  private readonly read: string
  private readonly write: string

  constructor(dialect: Dialect) {
    const sql = sqlFor(dialect)
    this.read = sql("SELECT enabled FROM payroll_switches WHERE name = ?")
    this.write = sql("INSERT INTO payroll_switches (name, enabled) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled")
  }

  async enabled(client: SqlClient): Promise<boolean> {
    const row = (await client.query(this.read, [SWITCH])).rows[0]
    return row === undefined || integerColumn(row, "enabled") !== 0
  }

  async set(client: SqlClient, enabled: boolean): Promise<void> {
    await client.query(this.write, [SWITCH, enabled ? 1 : 0])
  }

  /** Throws PoisonedEmployee for a poisoned employee while the switch is on; `tx` is the transaction applying the event. */
  async check(tx: SqlClient, employee: EmployeeMessage): Promise<void> {
    if (employee.lastName === POISON_LAST_NAME && (await this.enabled(tx))) throw new PoisonedEmployee(employee.guid)
  }

  /** Serves payroll.poison.get/set on `bus`; `client` is payroll's database (outside any transaction). */
  serve(bus: Bus, client: SqlClient): Promise<Array<Subscription>> {
    const options = { group: POISON_SWITCH_GROUP }
    return allRegistered([
      bus.handle(PoisonSwitch.get, async () => ({ enabled: await this.enabled(client) }), options),
      bus.handle(PoisonSwitch.set, async ({ payload }) => {
        await this.set(client, payload.enabled === true)
        return { enabled: await this.enabled(client) }
      }, options),
    ])
  }
}
