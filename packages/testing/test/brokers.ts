/**
 * What every started broker must do, by either path (docker.test.ts,
 * local.test.ts): serve a bus in a namespace of its own, come back from
 * kill() with what it had acknowledged, come back from a graceful restart(),
 * and be gone after stop().
 */
import { accepts } from "@omnibus/conformance/brokers"
import type { TopologyReporter } from "@omnibus/core/adapter"
import { topologyReport as kafkaReport } from "@omnibus/kafka"
import { topologyReport as natsReport } from "@omnibus/nats"
import { topologyReport as rabbitmqReport } from "@omnibus/rabbitmq"
import { topologyReport as redisReport } from "@omnibus/redis"
import { afterAll, describe, expect, it } from "vitest"
import { spy, startBroker, testBus, waitFor, type BrokerKind, type BrokerVia, type StartedBroker } from "../src/index.ts"

const reporters: Record<BrokerKind, TopologyReporter> = { rabbitmq: rabbitmqReport, nats: natsReport, redis: redisReport, kafka: kafkaReport }

const portOf = (url: string): number => Number(new URL(url).port)

/** Seconds per broker start as measured by this run (printed after the run). */
export const startTimes: Array<string> = []

export const describeBroker = (kind: BrokerKind, via: BrokerVia): void => {
  describe(`${kind} via ${via}`, () => {
    let broker: StartedBroker | undefined
    afterAll(async () => {
      await broker?.stop()
    })

    it("starts, serves a bus in its own namespace, survives kill() and restart(), and is gone after stop()", async () => {
      const t0 = Date.now()
      broker = await startBroker(kind, { via })
      startTimes.push(`${kind} via ${via}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      expect(broker.via).toBe(via)
      expect(broker.url).toMatch(/^(amqp|nats|redis|kafka):\/\/.*127\.0\.0\.1:\d+$/)
      const port = portOf(broker.url)

      const t = await testBus(broker.url, { connectTimeoutMs: 30_000 })
      const other = await testBus(broker.url, { connectTimeoutMs: 30_000 })
      try {
        const seen = spy<{ n: number }>()
        const strangers = spy<{ n: number }>()
        // same group and key in two namespaces: each sees only its own messages
        await t.bus.subscribe("order.*", seen.handler, { group: "billing" })
        await other.bus.subscribe("order.*", strangers.handler, { group: "billing" })
        // a group with no consumer yet: its copy must be on the broker's disk
        await t.bus.declareGroup("order.*", { group: "audit" })
        const first = await t.bus.publish("order.placed", { n: 1 })
        await seen.waitFor(first.id, 30_000)

        // kill: the port closes; what was acknowledged before survives it
        await broker.kill()
        expect(await accepts(port)).toBe(false)
        await broker.restart()
        expect(await accepts(port)).toBe(true)
        const second = await t.bus.publish("order.placed", { n: 2 })
        await seen.waitFor(second.id, 60_000)
        const audit = spy<{ n: number }>()
        await t.bus.subscribe("order.*", audit.handler, { group: "audit" })
        await audit.waitFor(first.id, 60_000)

        // a graceful restart while serving
        await broker.restart()
        const third = await t.bus.publish("order.placed", { n: 3 })
        await seen.waitFor(third.id, 60_000)

        const sentinel = await other.bus.publish("order.placed", { n: 0 })
        await strangers.waitFor(sentinel.id, 30_000)
        expect(strangers.messages.map((m) => m.payload.n)).toEqual([0])
        expect(seen.messages.map((m) => m.payload.n)).toEqual(expect.arrayContaining([1, 2, 3]))
      } finally {
        await t.cleanup()
        await other.cleanup()
      }
      // cleanup() left nothing of the groups the buses subscribed or declared
      const report = await reporters[kind](broker.url, { groups: ["billing", "audit"] }, t.options)
      expect(report.groups.flatMap((g) => g.objects.map((o) => `${g.group}: ${o.kind} ${o.name}`))).toEqual([])

      await broker.stop()
      await waitFor(async () => !(await accepts(port)), { timeoutMs: 30_000, what: `port ${port} to close after stop()` })
    })
  })
}
