/**
 * The employee service: answers employee.search/create/update/destroy over
 * RPC from its SQLite database, and publishes employee.created/updated/
 * destroyed through the outbox after each successful write.
 */
import { join } from "node:path"
import type { Subscription } from "@omnibus/core"
import { openBuses } from "../buses.ts"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageService as rpc } from "../contracts/employee.generated.ts"
import { openDatabase } from "../sqlite.ts"
import { OutboxRelay } from "./outbox.ts"
import { EmployeeStore } from "./store.ts"

export const SERVICE_GROUP = "employee-service"

export const serviceDatabase = (config: PlatformConfig): string => join(config.dataDir, "employees.db")

export const startService = async (config: PlatformConfig, log: Log): Promise<Component> => {
  const db = openDatabase(serviceDatabase(config))
  const store = new EmployeeStore(db)
  const buses = await openBuses(config)
  const relay = new OutboxRelay(store, buses.events, { log })
  const servers: Array<Subscription> = []
  try {
    const options = { group: SERVICE_GROUP }
    // Registered together: on some brokers each registration joins a consumer group, which takes seconds.
    const registrations = await Promise.allSettled([
      buses.rpc.handle(rpc.search, ({ payload }) => ({ records: store.search(payload) }), options),
      buses.rpc.handle(rpc.create, ({ payload }) => {
        const e = store.create(payload)
        relay.notify()
        return e
      }, options),
      buses.rpc.handle(rpc.update, ({ payload }) => {
        const e = store.update(payload)
        relay.notify()
        return e
      }, options),
      buses.rpc.handle(rpc.destroy, ({ payload }) => {
        const e = store.destroy(payload)
        relay.notify()
        return e
      }, options),
    ])
    for (const r of registrations) if (r.status === "fulfilled") servers.push(r.value)
    for (const r of registrations) if (r.status === "rejected") throw r.reason
    relay.start()
  } catch (e) {
    await Promise.allSettled(servers.map((s) => s.close()))
    await buses.close()
    db.close()
    throw e
  }
  return {
    close: async () => {
      await Promise.allSettled(servers.map((s) => s.close()))
      await relay.stop()
      await buses.close()
      db.close()
    },
  }
}
