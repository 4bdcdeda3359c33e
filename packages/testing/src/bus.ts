/**
 * `testBus(url)`: a bus for one test, in a namespace of its own, so tests that
 * share a broker (and reuse group names and routing keys) never see each
 * other's messages; `cleanup()` closes every bus it made and deletes the
 * groups they declared.
 *
 * The namespace is each adapter's own naming option:
 *   RabbitMQ  exchange `<ns>.events`, queue prefix `<ns>.` (and so RPC exchange `<ns>.rpc`)
 *   NATS      events stream `<ns>`, RPC subjects `<ns>-rpc.*`, its own dead-letter,
 *             replay, failure and blob streams `<ns>-dlq`, `-replay`, `-failures`, `-blobs`
 *   Kafka     topic prefix `<ns>`
 *   Redis     namespace `<ns>` (keys `omnibus:{<ns>}:…`)
 *   memory    the broker `memory://<ns>`
 * Groups are deleted with the adapter's `deleteGroups`; what the whole
 * namespace shares (the exchange, the streams, the events topic, Redis's
 * bindings hash and RPC keys) stays on a long-lived broker and goes with one
 * from `startBroker`.
 */
import { randomBytes } from "node:crypto"
import { connect, type Bus, type BusOptions, type TransportOptions } from "@omnibus/core"

/** connect() options of the namespace's buses (the namespace's own options win). */
export type TestBusOptions = TransportOptions & BusOptions

/** The buses of one test's namespace. */
export interface TestBus {
  /** A bus in the namespace (closed by `cleanup`). */
  readonly bus: Bus
  /** Letters and digits, unique per call: `t<16 hex digits>`. */
  readonly namespace: string
  /** The URL the buses connect to (for memory://, the namespace's own broker). */
  readonly url: string
  /** The adapter options that put a bus in this namespace, e.g. for a child process's `connect`. */
  readonly options: TransportOptions
  /** Another bus in the same namespace (a second consumer, a restarted service); closed by `cleanup`. */
  connect(options?: TestBusOptions): Promise<Bus>
  /** Closes every bus of this namespace, then deletes the groups they subscribed or declared. */
  cleanup(): Promise<void>
}

const schemeOf = (url: string): string => url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase()

const namespaceOptions = (scheme: string, ns: string): TransportOptions => {
  switch (scheme) {
    case "amqp":
    case "amqps":
      return { exchange: `${ns}.events`, queuePrefix: `${ns}.` }
    case "nats":
    case "tls":
      return { stream: ns, rpcPrefix: `${ns}-rpc`, deadLetterStream: `${ns}-dlq`, replayStream: `${ns}-replay`, failureStream: `${ns}-failures`, blobStream: `${ns}-blobs` }
    case "kafka":
      return { topicPrefix: ns }
    case "redis":
    case "rediss":
      return { namespace: ns }
    default:
      return {}
  }
}

type DeleteGroups = (url: string, groups: ReadonlyArray<string>, options?: TransportOptions) => Promise<void>

/** The adapter's group deletion, loaded only for its scheme (the app has that adapter installed). */
const deleteGroupsFor = async (scheme: string): Promise<DeleteGroups | undefined> => {
  switch (scheme) {
    case "amqp":
    case "amqps":
      return (await import("@omnibus/rabbitmq")).deleteGroups
    case "nats":
    case "tls":
      return (await import("@omnibus/nats")).deleteGroups
    case "kafka":
      return (await import("@omnibus/kafka")).deleteGroups
    case "redis":
    case "rediss":
      return (await import("@omnibus/redis")).deleteGroups
    default:
      return undefined
  }
}

/** Records the groups a bus subscribes or declares; the bus object stays the one connect() made (crash(bus) needs it). */
const recordGroups = (bus: Bus, groups: Set<string>): Bus => {
  const { subscribe, declareGroup } = bus
  const note = (options: unknown): void => {
    const group = (options as { readonly group?: unknown } | undefined)?.group
    if (typeof group === "string") groups.add(group)
  }
  return Object.assign(bus, {
    subscribe: ((patterns: never, handler: never, options?: never) => {
      note(options)
      return subscribe(patterns, handler, options)
    }) as Bus["subscribe"],
    declareGroup: ((patterns: never, options: never) => {
      note(options)
      return declareGroup(patterns, options)
    }) as Bus["declareGroup"],
  })
}

/** Connects a bus in a fresh namespace on the broker at `url` (its adapter must be imported, as for connect). */
export const testBus = async (url: string, options: TestBusOptions = {}): Promise<TestBus> => {
  const namespace = `t${randomBytes(8).toString("hex")}`
  const scheme = schemeOf(url)
  const busUrl = scheme === "memory" ? `memory://${namespace}` : url
  const nsOptions = namespaceOptions(scheme, namespace)
  const groups = new Set<string>()
  const buses: Array<Bus> = []
  const open = async (more: TestBusOptions = {}): Promise<Bus> => {
    const bus = recordGroups(await connect(busUrl, { ...options, ...more, ...nsOptions }), groups)
    buses.push(bus)
    return bus
  }
  const bus = await open()
  let cleaned = false
  return {
    bus,
    namespace,
    url: busUrl,
    options: nsOptions,
    connect: open,
    cleanup: async () => {
      if (cleaned) return
      cleaned = true
      const closed = await Promise.allSettled(buses.map((b) => b.close()))
      const deleteGroups = groups.size > 0 ? await deleteGroupsFor(scheme) : undefined
      if (deleteGroups) await deleteGroups(busUrl, [...groups], { ...options, ...nsOptions })
      const failed = closed.find((r): r is PromiseRejectedResult => r.status === "rejected")
      if (failed) throw failed.reason
    },
  }
}
