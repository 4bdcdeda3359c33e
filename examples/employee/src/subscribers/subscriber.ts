/**
 * What every subscriber process of the example does around its handler: open
 * its database (with @omnibus/outbox's inbox table) and the buses, subscribe,
 * and close the three in order — also when subscribing fails, so a failed
 * start leaves nothing open. Each subscription's outcomes go to the Activity
 * page (`activity.observe`).
 *
 * Each message is handled once per group through the inbox: `once` runs the
 * handler's writes and the "handled" mark in one transaction, so a
 * redelivered event changes nothing.
 */
import type { Message, Subscription } from "@omnibus/core"
import { createInbox, type Database, type Dialect, type Inbox, type SqlClient } from "@omnibus/outbox"
import { activityReporter, type ActivityReporter } from "../activity/reporter.ts"
import { openBuses, type Buses } from "../buses.ts"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { openDatabase, type ComponentName } from "../database.ts"

export interface SubscriberContext {
  readonly db: Database
  readonly inbox: Inbox
  readonly buses: Buses
  readonly activity: ActivityReporter
}

/**
 * `name` is the component's data (its database), `source` the process as the Activity page names it
 * ("payroll-2"). `subscribe` returns what to close at the end.
 */
export const startSubscriber = async (
  config: PlatformConfig,
  name: ComponentName,
  source: string,
  tables: (dialect: Dialect) => ReadonlyArray<string>,
  log: Log,
  subscribe: (context: SubscriberContext) => Promise<ReadonlyArray<Subscription>>,
): Promise<Component> => {
  const database = await openDatabase(config, name, tables, { onError: (e) => log(`database: ${e.message}`) })
  let buses: Buses | undefined
  try {
    buses = await openBuses(config)
    const activity = activityReporter(buses.events, source, log)
    const subs = await subscribe({ db: database.db, inbox: createInbox({ db: database.db }), buses, activity })
    const open = buses
    return {
      close: async () => {
        await Promise.allSettled(subs.map((s) => s.close()))
        await open.close()
        await database.close()
      },
    }
  } catch (e) {
    await buses?.close()
    await database.close()
    throw e
  }
}

/**
 * A handler that runs `apply` in the inbox's transaction (its writes go through `tx`) and resolves,
 * after the commit, to what `apply` returned, or to "duplicate" when the message was handled before.
 */
export const once =
  <T, R>(inbox: Inbox, apply: (message: Message<T>, tx: SqlClient) => Promise<R>) =>
  async (message: Message<T>): Promise<R | "duplicate"> => {
    // Set inside the callback, so TypeScript must not narrow it to undefined here.
    let result = undefined as { readonly value: R } | undefined
    await inbox.handler<T>(async (m, tx) => {
      result = { value: await apply(m, tx) }
    })(message)
    return result === undefined ? "duplicate" : result.value
  }
