/**
 * What durable groups leave on the server, removed on request (tests,
 * decommissioned groups): each group's keys (stream with its consumer group,
 * delayed retries, dead letters, solo counts) and its bindings entry, with the
 * same script a closing ephemeral group uses (topology.ts removeGroup).
 */
import { BrokerError } from "@omnibus/core"
import { describe, openClient, parseRedisUrl } from "./connection.ts"
import { withScripts } from "./scripts.ts"
import { removeGroup } from "./topology.ts"
import { keysFor, type RedisTransportOptions } from "./transport.ts"

/** Deletes the keys and bindings of `groups` in the namespace of `options`; a group that does not exist is skipped. */
export const deleteGroups = async (url: string, groups: ReadonlyArray<string>, options: RedisTransportOptions = {}): Promise<void> => {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  const keys = keysFor(options)
  const client = await openClient(parseRedisUrl(url, connectTimeoutMs, options.tls), connectTimeoutMs, "omnibus-admin")
  try {
    const scripted = withScripts(client)
    for (const group of groups) await removeGroup(scripted, keys, group)
  } catch (e) {
    throw new BrokerError({ operation: `delete groups ${groups.join(", ")}`, reason: describe(e), cause: e })
  } finally {
    client.disconnect()
  }
}
