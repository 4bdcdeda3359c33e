/**
 * What every subscriber process of the example does around its handler: open
 * its SQLite file and the buses, subscribe, and close the three in order —
 * also when subscribing fails, so a failed start leaves nothing open.
 */
import type { DatabaseSync } from "node:sqlite"
import type { Subscription } from "@omnibus/core"
import { openBuses, type Buses } from "../buses.ts"
import type { Component } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import { openDatabase } from "../sqlite.ts"

export const startSubscriber = async (
  config: PlatformConfig,
  databaseFile: string,
  subscribe: (db: DatabaseSync, buses: Buses) => Promise<Subscription>,
): Promise<Component> => {
  const db = openDatabase(databaseFile)
  let buses: Buses | undefined
  try {
    buses = await openBuses(config)
    const sub = await subscribe(db, buses)
    const open = buses
    return {
      close: async () => {
        await sub.close()
        await open.close()
        db.close()
      },
    }
  } catch (e) {
    await buses?.close()
    db.close()
    throw e
  }
}
