/**
 * Broker objects left for a group, found with passive declares (the
 * management API is not assumed to be enabled): the group queue, its delay
 * queue and its dead-letter queue; bindings go with their queue.
 */
import type { TransportOptions } from "@omnibus/core"
import { checkQueue, withAdminConnection } from "./admin.ts"
import { Topology } from "./topology.ts"

const groupQueues = (topology: Topology, group: string): ReadonlyArray<string> => [topology.groupQueue(group), topology.delayQueue(group), topology.deadLetterQueue(group)]

/** How many of the group's queues exist (one exclusive to another connection counts). */
export const residue = (url: string, group: string, options: TransportOptions = {}): Promise<number> =>
  withAdminConnection(url, options, async (manager, settings) => {
    let count = 0
    for (const queue of groupQueues(new Topology(settings), group)) if (!("missing" in (await checkQueue(manager, queue)))) count++
    return count
  })

/** Deletes what durable groups left on the broker: their queue, delay queue and dead-letter queue (tests, decommissioned groups). */
export const deleteGroups = (url: string, groups: ReadonlyArray<string>, options: TransportOptions = {}): Promise<void> =>
  withAdminConnection(url, options, async (manager, settings) => {
    const topology = new Topology(settings)
    await manager.withChannel("delete groups", async (ch) => {
      for (const group of groups) for (const queue of groupQueues(topology, group)) await ch.deleteQueue(queue)
    })
  })
