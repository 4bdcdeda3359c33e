/**
 * What differs between RabbitMQ versions, on whichever broker OMNIBUS_RABBITMQ_URL
 * names (`npm test` runs this file on the machine's 3.10 and on 4.0 with every
 * deprecated feature refused, scripts/matrix/brokers.sh):
 * - quorum queues: 4.0 gives a queue without x-delivery-limit a limit of 20 and
 *   drops a message returned that often; the adapter declares -1 (unlimited) so
 *   core's retry.maxRedeliveries decides, and keeps a queue declared before the
 *   upgrade as it is (a redeclare with other arguments would be refused);
 * RPC queues (durable on 4.x, where transient non-exclusive ones are refused) are
 * proven by conformance cases 23-27 on that node.
 */
import * as amqp from "amqplib"
import { afterEach, describe, expect, it } from "vitest"
import type { Delivery } from "@omnibus/core/adapter"
import { parseSettings } from "../src/options.ts"
import { Topology } from "../src/topology.ts"
import { RabbitTransport } from "../src/transport.ts"
import { cleanupGroups, envelope, k, open, spec, unique, until, URL_ } from "./helpers.ts"

const opened: Array<RabbitTransport> = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close().catch(() => {})))
  await cleanupGroups()
})

/** Releases one message `returns` times, then acks it; resolves with every delivery's redelivery count. */
const returnRepeatedly = async (t: RabbitTransport, group: string, returns: number): Promise<Array<number>> => {
  const seen: Array<number> = []
  await t.consume(spec(group, [k(`${group}.*`)]), (d: Delivery) => {
    seen.push(d.redeliveries)
    void (d.redeliveries < returns ? d.release() : d.ack())
  })
  await t.publish([envelope(k(`${group}.x`), "poison-ish")])
  await until(() => seen.at(-1) === returns, `delivery number ${returns + 1}`, 20_000)
  return seen
}

/** The group's queues as quorum queues with no optional argument (declared by an older release or by hand). */
const declarePlainQuorum = async (group: string): Promise<void> => {
  const topology = new Topology(parseSettings(URL_, { queueType: "quorum" }))
  const model = await amqp.connect(URL_)
  try {
    const ch = await model.createChannel()
    for (const q of [topology.groupQueue(group), topology.delayQueue(group)]) await ch.assertQueue(q, { durable: true, arguments: { "x-queue-type": "quorum" } })
  } finally {
    await model.close()
  }
}

describe("rabbitmq broker versions", () => {
  it("a quorum queue message returned 25 times is still delivered: the broker's limit does not cut core's maxRedeliveries short", async () => {
    const t = await open({ queueType: "quorum" })
    opened.push(t)
    const group = unique("limit")
    const seen = await returnRepeatedly(t, group, 25)
    expect(seen).toEqual(Array.from({ length: 26 }, (_, i) => i))
  })

  it("a quorum queue declared before the upgrade (no x-delivery-limit) is consumed as it is", async () => {
    const group = unique("legacy")
    await declarePlainQuorum(group)
    const t = await open({ queueType: "quorum" })
    opened.push(t)
    // 4.x keeps its default limit (20) on such a queue: below it, every return comes back
    const seen = await returnRepeatedly(t, group, 5)
    expect(seen).toEqual([0, 1, 2, 3, 4, 5])
  })

  it("a quorum queue declared without x-quorum-initial-group-size (before pointing at a cluster) is consumed as it is", async () => {
    const group = unique("size")
    await declarePlainQuorum(group)
    // on 4.x the queues refuse both optional arguments, one refusal at a time
    const t = await open({ queueType: "quorum", quorumGroupSize: 3 })
    opened.push(t)
    expect(await returnRepeatedly(t, group, 2)).toEqual([0, 1, 2])
  })
})
