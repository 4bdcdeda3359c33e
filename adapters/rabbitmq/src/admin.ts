/**
 * One-off connections for the admin functions (topology report, residue, deleteGroups):
 * the same connection manager as a transport's, so they take a cluster's hosts in turn,
 * use its TLS options and connect deadline, and no hung close holds them up.
 */
import type { Channel } from "amqplib"
import { brokerError, closeQuietly, ConnectionManager, replyCode } from "./connection.ts"
import { parseSettings, type RabbitSettings } from "./options.ts"
import type { RabbitOptions } from "./transport.ts"

/** Connects, runs `fn` and closes, whatever `fn` does. */
export const withAdminConnection = async <A>(url: string, options: RabbitOptions, fn: (manager: ConnectionManager, settings: RabbitSettings) => Promise<A>): Promise<A> => {
  const settings = parseSettings(url, options)
  const manager = new ConnectionManager(settings, options.tls)
  await manager.start()
  try {
    return await fn(manager, settings)
  } finally {
    await manager.close()
  }
}

export type Lookup<A> = { readonly found: A } | { readonly missing: true } | { readonly exclusive: true }

/** One passive declare on a channel of its own: a 404 (absent) or 405 (exclusive to another connection) closes it. */
export const lookup = async <A>(manager: ConnectionManager, operation: string, check: (ch: Channel) => Promise<A>): Promise<Lookup<A>> => {
  const model = await manager.ready(operation)
  const ch = await model.createChannel()
  ch.on("error", () => {})
  try {
    return { found: await check(ch) }
  } catch (e) {
    if (replyCode(e) === 404) return { missing: true }
    if (replyCode(e) === 405) return { exclusive: true }
    throw brokerError(operation, e)
  } finally {
    await closeQuietly(ch)
  }
}

export const checkQueue = (manager: ConnectionManager, name: string) => lookup(manager, `check queue ${name}`, (ch) => ch.checkQueue(name))
