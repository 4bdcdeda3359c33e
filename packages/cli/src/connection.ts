/**
 * Opens the bus for a command. Importing every first-party adapter registers
 * its URL schemes, so the installed CLI works on any broker without more packages.
 */
import "@omnibus/memory"
import "@omnibus/rabbitmq"
import "@omnibus/nats"
import "@omnibus/redis"
import "@omnibus/kafka"
import { connect, type Bus } from "@omnibus/core"

/** Short enough that a typo in the host fails at once at 3 a.m., long enough for a slow cluster. */
const CONNECT_TIMEOUT_MS = 10_000

/** Runs `use` with an open bus and always closes it (nothing is left behind on the broker). */
export const withBus = async <A>(url: string, use: (bus: Bus) => Promise<A>): Promise<A> => {
  const bus = await connect(url, { connectTimeoutMs: CONNECT_TIMEOUT_MS })
  try {
    return await use(bus)
  } finally {
    await bus.close()
  }
}
