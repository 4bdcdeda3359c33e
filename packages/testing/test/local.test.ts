// startBroker's fallback: the machine's broker binaries through @omnibus/conformance/brokers.
import { afterAll } from "vitest"
import { describeBroker, startTimes } from "./brokers.ts"

for (const kind of ["rabbitmq", "nats", "redis", "kafka"] as const) describeBroker(kind, "local")

afterAll(() => console.log(`local start times: ${startTimes.join("; ")}`))
