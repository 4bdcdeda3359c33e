/**
 * Group state: a stream with a consumer group named after the Omnibus group,
 * and an entry in the bindings hash (group -> space-joined patterns) that the
 * routing script reads at publish time.
 */
import { BrokerError } from "@omnibus/core"
import type { GroupSpec } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"
import { describe } from "./connection.ts"
import type { Keys } from "./keys.ts"
import type { ScriptedRedis } from "./scripts.ts"

/**
 * Creates the stream + consumer group (from id 0, so entries routed before the
 * group existed are not skipped) and sets the group's bindings: the latest
 * declaration of a group defines its patterns.
 */
export const declareGroup = async (client: ScriptedRedis, keys: Keys, spec: GroupSpec): Promise<void> => {
  try {
    await client.omnibusDeclare(keys.bindings, keys.group(spec.group), spec.group, spec.patterns.join(" "))
  } catch (e) {
    throw new BrokerError({ operation: `declare group ${spec.group}`, reason: describe(e), cause: e })
  }
}

/** Removes every key and the binding of a group (ephemeral groups on close). */
export const removeGroup = async (client: ScriptedRedis, keys: Keys, group: string): Promise<void> => {
  await client.omnibusRemoveGroup(keys.bindings, keys.group(group), keys.waiting(group), keys.due(group), keys.deadLetters(group), keys.solo(group), group)
}

/** How many keys and binding entries exist for a group. */
export const residue = async (client: Redis, keys: Keys, group: string): Promise<number> => {
  const [existing, bound] = await Promise.all([
    client.exists(keys.group(group), keys.waiting(group), keys.due(group), keys.deadLetters(group), keys.solo(group)),
    client.hexists(keys.bindings, group),
  ])
  return existing + bound
}
