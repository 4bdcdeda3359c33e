/**
 * The employee service: answers employee.search/create/update/destroy over
 * RPC from its database, and publishes employee.created/updated/destroyed
 * through the outbox: each write stores its event in the write's transaction
 * (store.ts), and @omnibus/outbox's relay publishes it afterwards, at least
 * once, with the row's id as message id and its creation time as timestamp.
 * What the relay publishes is reported on the Activity page (../activity/).
 */
import type { Subscription } from "@omnibus/core"
import { startRelay } from "@omnibus/outbox"
import { activityReporter } from "../activity/reporter.ts"
import { openBuses } from "../buses.ts"
import { allRegistered, type Component, type Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { EmployeeMessageService as rpc } from "../contracts/employee.generated.ts"
import { openDatabase } from "../database.ts"
import { EmployeeStore, employeeTables } from "./store.ts"

export const SERVICE_GROUP = "employee-service"

/** Sent rows stay in the outbox this long, as a record of what was published (then the relay deletes them). */
export const OUTBOX_RETAIN_MS = 24 * 60 * 60 * 1000

export const startService = async (config: PlatformConfig, log: Log): Promise<Component> => {
  const database = await openDatabase(config, "employees", employeeTables, { onError: (e) => log(`database: ${e.message}`) })
  const store = new EmployeeStore(database.db)
  const buses = await openBuses(config).catch(async (e: unknown) => {
    await database.close()
    throw e
  })
  // The relay's publishes also go to the Activity page, as "published".
  const activity = activityReporter(buses.events, "service", log)
  const relay = startRelay({
    db: database.another(),
    bus: activity.relaying(buses.events),
    cleanup: { retainMs: OUTBOX_RETAIN_MS },
    onError: (e) => log(`outbox relay: ${e instanceof Error ? e.message : String(e)}; retrying`),
  })
  /** After a commit: publish now instead of at the next poll (PostgreSQL's NOTIFY wakes the relay anyway). */
  const published = <T>(written: T): T => {
    relay.notify()
    return written
  }
  let servers: ReadonlyArray<Subscription> = []
  const stop = async () => {
    await Promise.allSettled(servers.map((s) => s.close()))
    await relay.stop()
    await buses.close()
    await database.close()
  }
  try {
    const options = { group: SERVICE_GROUP }
    servers = await allRegistered([
      buses.rpc.handle(rpc.search, async ({ payload }) => ({ records: await store.search(payload) }), options),
      buses.rpc.handle(rpc.create, async ({ payload }) => published(await store.create(payload)), options),
      buses.rpc.handle(rpc.update, async ({ payload }) => published(await store.update(payload)), options),
      buses.rpc.handle(rpc.destroy, async ({ payload }) => published(await store.destroy(payload)), options),
    ])
  } catch (e) {
    await stop()
    throw e
  }
  log(`employees and their outbox in ${database.description}`)
  return { close: stop }
}
