/**
 * Opens the bus for a command. The CLI depends on every first-party adapter,
 * so it works on any broker out of the box; it imports only the one the URL's
 * scheme needs (importing all five doubled the start-up time of every command).
 */
import { connect, type Bus } from "@omnibus/core"
import { schemeOf } from "@omnibus/core/adapter"

/** Importing an adapter registers its schemes with core's registry. */
const ADAPTERS: Readonly<Record<string, () => Promise<unknown>>> = {
  memory: () => import("@omnibus/memory"),
  amqp: () => import("@omnibus/rabbitmq"),
  amqps: () => import("@omnibus/rabbitmq"),
  nats: () => import("@omnibus/nats"),
  tls: () => import("@omnibus/nats"),
  redis: () => import("@omnibus/redis"),
  rediss: () => import("@omnibus/redis"),
  kafka: () => import("@omnibus/kafka"),
}

/** Short enough that a typo in the host fails at once at 3 a.m., long enough for a slow cluster. */
const CONNECT_TIMEOUT_MS = 10_000

/** Runs `use` with an open bus and always closes it (nothing is left behind on the broker). */
export const withBus = async <A>(url: string, use: (bus: Bus) => Promise<A>): Promise<A> => {
  // An unknown or missing scheme is left to connect, whose InvalidUrl names the registered ones.
  let scheme: string | undefined
  try {
    scheme = schemeOf(url)
  } catch {
    scheme = undefined
  }
  await ADAPTERS[scheme ?? ""]?.()
  const bus = await connect(url, { connectTimeoutMs: CONNECT_TIMEOUT_MS })
  try {
    return await use(bus)
  } finally {
    await bus.close()
  }
}
