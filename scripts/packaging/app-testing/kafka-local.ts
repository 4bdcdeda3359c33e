// The local fallback outside the repository: Kafka from the distribution KAFKA_HOME names (scripts/packaging.sh
// points it at the jars the repository fetched), no Docker engine.
import "@omnibus/kafka"
import assert from "node:assert/strict"
import { test } from "node:test"
import { spy, startBroker, testBus } from "@omnibus/testing"

test("a Kafka of KAFKA_HOME serves a bus", { timeout: 180_000 }, async () => {
  const broker = await startBroker("kafka", { via: "local" })
  try {
    assert.equal(broker.via, "local")
    const t = await testBus(broker.url, { connectTimeoutMs: 60_000 })
    try {
      const billing = spy<{ total: number }>()
      await t.bus.subscribe("order.*", billing.handler, { group: "billing" })
      const { id } = await t.bus.publish("order.placed", { total: 42 })
      assert.equal((await billing.waitFor(id, 60_000)).payload.total, 42)
    } finally {
      await t.cleanup()
    }
  } finally {
    await broker.stop()
  }
})
