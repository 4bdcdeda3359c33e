/**
 * Broker objects left for a group, found with passive declares (the
 * management API is not assumed to be enabled): the group queue, its delay
 * queue and its dead-letter queue; bindings go with their queue.
 */
import * as amqp from "amqplib"
import type { TransportOptions } from "@omnibus/core"
import { closeQuietly, replyCode } from "./connection.ts"
import { parseSettings } from "./options.ts"
import { Topology } from "./topology.ts"

export const residue = async (url: string, group: string, options: TransportOptions = {}): Promise<number> => {
  const settings = parseSettings(url, options)
  const topology = new Topology(settings)
  const model = await amqp.connect(settings.amqpUrl)
  model.on("error", () => {})
  try {
    let count = 0
    for (const queue of [topology.groupQueue(group), topology.delayQueue(group), topology.deadLetterQueue(group)]) {
      const ch = await model.createChannel()
      ch.on("error", () => {})
      try {
        await ch.checkQueue(queue)
        count++
      } catch (e) {
        // 405 RESOURCE_LOCKED: an exclusive queue of another connection still exists.
        if (replyCode(e) === 405) count++
        else if (replyCode(e) !== 404) throw e
      }
      await closeQuietly(ch)
    }
    return count
  } finally {
    await closeQuietly(model)
  }
}

/** Deletes what durable groups left on the broker: their queue, delay queue and dead-letter queue (tests, decommissioned groups). */
export const deleteGroups = async (url: string, groups: ReadonlyArray<string>, options: TransportOptions = {}): Promise<void> => {
  const settings = parseSettings(url, options)
  const topology = new Topology(settings)
  const model = await amqp.connect(settings.amqpUrl)
  model.on("error", () => {})
  try {
    const ch = await model.createChannel()
    for (const group of groups) {
      await ch.deleteQueue(topology.groupQueue(group))
      await ch.deleteQueue(topology.delayQueue(group))
      await ch.deleteQueue(topology.deadLetterQueue(group))
    }
    await ch.close()
  } finally {
    await closeQuietly(model)
  }
}
