// startBroker through testcontainers: needs a Docker engine with the images (scripts/docker.sh
// start, scripts/testing-images.sh; scripts/test.sh does both and exports DOCKER_HOST).
import { afterAll, expect, it } from "vitest"
import { startBroker } from "../src/index.ts"
import { describeBroker, startTimes } from "./brokers.ts"

it("picks docker by itself when an engine answers, with the official image name", async () => {
  const broker = await startBroker("redis")
  try {
    expect(broker.via).toBe("docker")
    expect(broker.source).toBe("redis:8")
    expect(broker.reason).toMatch(/^Docker engine at /)
  } finally {
    await broker.stop()
  }
})

for (const kind of ["rabbitmq", "nats", "redis", "kafka"] as const) describeBroker(kind, "docker")

afterAll(() => console.log(`container start times: ${startTimes.join("; ")}`))
