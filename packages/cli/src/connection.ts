/**
 * Opens the bus for a command. The CLI depends on every first-party adapter,
 * so it works on any broker out of the box; it imports only the one the URL's
 * scheme needs (importing all five doubled the start-up time of every command).
 */
import { connect, type Bus } from "@omnibus/core"
import { schemeOf, type TopologyReporter } from "@omnibus/core/adapter"

/** What the CLI uses of an adapter package besides its registration. */
export interface AdapterModule {
  readonly topologyReport: TopologyReporter
}

/** Importing an adapter registers its schemes with core's registry. */
const ADAPTERS: Readonly<Record<string, () => Promise<AdapterModule>>> = {
  memory: () => import("@omnibus/memory"),
  amqp: () => import("@omnibus/rabbitmq"),
  amqps: () => import("@omnibus/rabbitmq"),
  nats: () => import("@omnibus/nats"),
  tls: () => import("@omnibus/nats"),
  redis: () => import("@omnibus/redis"),
  rediss: () => import("@omnibus/redis"),
  kafka: () => import("@omnibus/kafka"),
}

/**
 * The first-party adapter of the URL's scheme, imported (so registered); undefined for another
 * or no scheme, which is left to connect/resolveAdapter, whose InvalidUrl names the registered ones.
 */
export const loadAdapter = async (url: string): Promise<AdapterModule | undefined> => {
  let scheme: string | undefined
  try {
    scheme = schemeOf(url)
  } catch {
    scheme = undefined
  }
  return ADAPTERS[scheme ?? ""]?.()
}

/** Short enough that a typo in the host fails at once at 3 a.m., long enough for a slow cluster. */
const CONNECT_TIMEOUT_MS = 10_000

/** Runs `use` with an open bus and always closes it (nothing is left behind on the broker). */
export const withBus = async <A>(url: string, use: (bus: Bus) => Promise<A>): Promise<A> => {
  await loadAdapter(url)
  const bus = await connect(url, { connectTimeoutMs: CONNECT_TIMEOUT_MS })
  try {
    return await use(bus)
  } finally {
    await bus.close()
  }
}
