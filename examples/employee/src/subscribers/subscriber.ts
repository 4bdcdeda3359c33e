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
import type { IdempotencyStore, Message, Subscription } from "@omnibus/core"
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
 * The inbox's store as the subscription's idempotency store, minus `complete`.
 * Core calls `complete` after a success, where the inbox's transaction has
 * written the mark already, and after a dead letter, where a mark would make a
 * replayed copy (same id) an acked "duplicate" that never reaches the handler:
 * replay would then do nothing. Without it, a dead letter leaves no mark (the
 * failed transaction rolled back) and its replay is handled. The cost: a copy
 * the broker redelivers after its dead letter was stored (the ack lost with
 * the connection) runs again, and may become a second dead letter.
 */
export const replayableStore = (inbox: Inbox): IdempotencyStore => ({
  claim: (key, leaseMs) => inbox.store.claim(key, leaseMs),
  complete: () => Promise.resolve(),
  release: (key) => inbox.store.release(key),
})

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
