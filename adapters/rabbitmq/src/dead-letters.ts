/**
 * The dead-letter queue `<p><group>/dlq`, read with basic.get on a private
 * channel WITHOUT acking: list() then closes that channel, so the broker puts
 * every message back at its original position (nothing is rewritten, nothing
 * can be lost by a crash mid-list). replay() publishes the chosen messages to
 * the group queue through the default exchange (this group only), waits for
 * the confirms and only then acks them in the DLQ; the rest go back on close.
 * Both take the whole queue (bounded by its depth when the call starts), as
 * quorum queues requeue returned messages behind the untaken ones.
 * Operations on one group are serialised within a transport; a concurrent
 * list from another process may see fewer messages while one holds them.
 */
import type { Channel, GetMessage } from "amqplib"
import { BrokerError } from "@omnibus/core"
import type { DeadLetter, DeadLetterStore } from "@omnibus/core/adapter"
import type { ConnectionManager } from "./connection.ts"
import { replyCode } from "./connection.ts"
import { failureFromHeaders } from "@omnibus/core/adapter"
import { bodyOf, envelopeOf, publishOptions, wireHeadersOf } from "./mapping.ts"
import type { Publisher } from "./publisher.ts"
import type { Topology } from "./topology.ts"

const isNotFound = (e: unknown): boolean => replyCode(e) === 404 || replyCode((e as { cause?: unknown } | null)?.cause) === 404

export class RabbitDeadLetters implements DeadLetterStore {
  private readonly manager: ConnectionManager
  private readonly topology: Topology
  private readonly publisher: Publisher
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor(manager: ConnectionManager, topology: Topology, publisher: Publisher) {
    this.manager = manager
    this.topology = topology
    this.publisher = publisher
  }

  private serial<A>(group: string, fn: () => Promise<A>): Promise<A> {
    const prev = this.locks.get(group) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    const tail = next.catch(() => {})
    this.locks.set(group, tail)
    void tail.then(() => { if (this.locks.get(group) === tail) this.locks.delete(group) })
    return next
  }

  /** Message count of a queue, or undefined when it does not exist. */
  private async depth(queue: string): Promise<number | undefined> {
    try {
      return await this.manager.withChannel("check queue", async (ch) => (await ch.checkQueue(queue)).messageCount)
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  /** Takes up to `max` messages (unacked) from the DLQ on `ch`. */
  private async take(ch: Channel, queue: string, max: number): Promise<Array<GetMessage>> {
    const out: Array<GetMessage> = []
    while (out.length < max) {
      const msg = await ch.get(queue, { noAck: false })
      if (msg === false) break
      out.push(msg)
    }
    return out
  }

  list(group: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<DeadLetter>> {
    return this.serial(group, async () => {
      const queue = this.topology.deadLetterQueue(group)
      const depth = await this.depth(queue)
      if (!depth) return []
      const limit = options?.limit ?? Number.POSITIVE_INFINITY
      // Everything is taken even with a limit: quorum queues put returned
      // messages behind the untaken ones, so a partial take would reorder.
      // Closing the channel (withChannel does) returns all of them, in order.
      return this.manager.withChannel("list dead letters", async (ch) => {
        const msgs = (await this.take(ch, queue, depth)).slice(0, limit)
        return msgs.map((msg) => {
          const wire = wireHeadersOf(msg)
          return { envelope: envelopeOf(msg, wire), failure: failureFromHeaders(wire, group) }
        })
      })
    })
  }

  replay(group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }): Promise<number> {
    return this.serial(group, async () => {
      const dlq = this.topology.deadLetterQueue(group)
      const depth = await this.depth(dlq)
      if (!depth) return 0
      const target = this.topology.groupQueue(group)
      if ((await this.depth(target)) === undefined) {
        throw new BrokerError({ operation: `replay ${group}`, reason: `group queue ${target} does not exist (subscribe or declareGroup first)` })
      }
      const ids = options?.ids ? new Set(options.ids) : undefined
      const limit = options?.limit ?? Number.POSITIVE_INFINITY
      return this.manager.withChannel("replay dead letters", async (ch) => {
        const msgs = await this.take(ch, dlq, depth)
        const chosen = msgs.filter((msg) => ids === undefined || ids.has(envelopeOf(msg).id)).slice(0, limit)
        if (chosen.length === 0) return 0
        // Original id, routing key, payload and user headers; no attempt and no failure headers (attempt resets to 1).
        const outcomes = await this.publisher.send(
          chosen.map((msg) => {
            const env = envelopeOf(msg)
            return { exchange: "", routingKey: target, content: bodyOf(env), options: publishOptions(env), key: env.routingKey }
          }),
        )
        let replayed = 0
        outcomes.forEach((o, i) => {
          if (o.ok) {
            ch.ack(chosen[i]!)
            replayed++
          }
        })
        return replayed
      })
    })
  }

  purge(group: string): Promise<number> {
    return this.serial(group, async () => {
      try {
        return await this.manager.withChannel("purge dead letters", async (ch) => (await ch.purgeQueue(this.topology.deadLetterQueue(group))).messageCount)
      } catch (e) {
        if (isNotFound(e)) return 0
        throw e
      }
    })
  }
}
