/**
 * Reconnect after the broker force-closes the connection (320
 * CONNECTION_FORCED, what a broker shutdown or an operator looks like to a
 * client) in the middle of a publish stream, on a private RabbitMQ node (the
 * fault suite's launcher): graceful node stop, publishes while it is down,
 * start again. Socket-level faults (kill -9, cut, stall) are in the fault
 * suite (test/faults.test.ts); here also the one fault of that kind a
 * reconnect depends on: a connection that dies while a channel is closing.
 */
import { launchRabbitmq, waitUntil } from "@omnibus/conformance/brokers"
import type { Launcher } from "@omnibus/conformance/brokers"
import { TcpProxy } from "@omnibus/conformance/proxy"
import { afterAll, beforeAll, expect, it } from "vitest"
import type { Delivery } from "@omnibus/core/adapter"
import { ConnectionManager } from "../src/connection.ts"
import { parseSettings } from "../src/options.ts"
import { RabbitTransport } from "../src/transport.ts"
import { envelope, k, spec, unique, until } from "./helpers.ts"

let node: Launcher

beforeAll(async () => {
  node = await launchRabbitmq()
  await node.start()
}, 90_000)

afterAll(async () => {
  await node.stop()
}, 60_000)

it("reconnects, re-declares, resumes consumers and republishes unconfirmed messages", async () => {
  const t = new RabbitTransport(node.url, { connectionName: unique("reconnect"), reconnectMaxDelayMs: 500 })
  await t.start()
  try {
    const group = unique("rc")
    const seen = new Set<string>()
    await t.consume(spec(group, [k("rc.*")], { prefetch: 50 }), (d: Delivery) => {
      seen.add(d.envelope.id)
      void d.ack().catch(() => {})
    })
    const sent: Array<string> = []
    const outcomes: Array<Promise<ReadonlyArray<{ ok: boolean }>>> = []
    const publishBatch = () => {
      const batch = Array.from({ length: 100 }, (_, i) => envelope(k("rc.x"), String(i)))
      sent.push(...batch.map((e) => e.id))
      outcomes.push(t.publish(batch))
    }
    for (let i = 0; i < 5; i++) publishBatch()
    // graceful node stop: the broker closes every connection with 320 CONNECTION_FORCED
    const stopping = node.shutdown()
    await waitUntil(async () => !(await t.health()).ready, 30_000, "the transport to see the forced close")
    for (let i = 0; i < 5; i++) publishBatch() // written while reconnecting
    await stopping
    await node.restart()
    const results = (await Promise.all(outcomes)).flat()
    expect(results.every((o) => o.ok)).toBe(true)
    await until(() => sent.every((id) => seen.has(id)), "every message after the reconnect", 30_000)
    expect((await t.health()).ready).toBe(true)
    // still consuming on the new connection
    const after = envelope(k("rc.y"), "after")
    await t.publish([after])
    await until(() => seen.has(after.id), "a message published after the reconnect")
  } finally {
    await t.close()
  }
}, 120_000)

// amqplib's channel.close() settles only on the broker's CloseOk, never when the connection
// dies first; a consumer's solo run awaited such a close (withChannel) and every later delivery
// of its group waited behind it, after a connection cut, for good.
it("an operation on a short-lived channel settles when the connection dies while the channel closes", async () => {
  const proxy = await TcpProxy.start(node.port)
  const url = new URL(node.url)
  url.port = String(proxy.port)
  const manager = new ConnectionManager(parseSettings(url.toString(), { connectionName: unique("close-cut"), reconnectMaxDelayMs: 200 }), undefined)
  await manager.start()
  try {
    const result = manager.withChannel("close during a cut", async () => {
      // the channel's close goes out into a frozen link (no CloseOk comes back), then the link is cut
      proxy.freeze({ newConnections: "pass" })
      setImmediate(() => proxy.cut())
      return "done"
    })
    await expect(result).resolves.toBe("done")
    await waitUntil(async () => (await manager.withChannel("after the cut", async () => "again")) === "again", 30_000, "a channel on the new connection")
  } finally {
    await manager.close()
    await proxy.close()
  }
}, 60_000)
