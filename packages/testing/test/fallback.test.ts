// With no engine to find, "auto" falls back to a local broker and says why.
import { expect, it } from "vitest"
import { startBroker } from "../src/index.ts"

it("falls back to a local broker when no Docker engine is reachable, and reports why", async () => {
  process.env.DOCKER_HOST = "unix:///nonexistent/omnibus-testing.sock"
  delete process.env.OMNIBUS_TESTING_VIA
  const broker = await startBroker("redis")
  try {
    expect(broker.via).toBe("local")
    expect(broker.source).toBe("redis-server")
    expect(broker.reason).toMatch(/^no Docker engine reachable: /)
  } finally {
    await broker.stop()
  }
  await expect(startBroker("redis", { via: "docker" })).rejects.toThrow(/no Docker engine reachable/)
})
