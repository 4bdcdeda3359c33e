/**
 * `startBroker(kind)`: a real broker for a test run, in a container when a
 * Docker engine is reachable, otherwise a local process from the machine's
 * binaries (the launchers of `@omnibus/conformance/brokers`). Either way the
 * caller gets one URL and the same controls, and `via` says which it was.
 */
import { dockerEngine, startContainer } from "./docker.ts"
import { startLocal } from "./local.ts"

/** The brokers startBroker runs. */
export type BrokerKind = "rabbitmq" | "nats" | "redis" | "kafka"

/** How a broker runs: "docker" (testcontainers) or "local" (the machine's broker binaries). */
export type BrokerVia = "docker" | "local"

/** Options of startBroker. */
export interface StartBrokerOptions {
  /**
   * How to run it. Default: `OMNIBUS_TESTING_VIA` when set, else "auto": a
   * container when a Docker engine is reachable, else a local process.
   */
  readonly via?: BrokerVia | "auto"
  /**
   * The image, "name:tag" (docker only). Defaults: `rabbitmq:4`, `nats:2.10`,
   * `redis:8`, `apache/kafka:4.1.1`; each also from `OMNIBUS_TESTING_<KIND>_IMAGE`.
   */
  readonly image?: string
  /** How long the broker may take to serve clients, in ms (default 120,000). */
  readonly startupTimeoutMs?: number
}

/** A running broker of startBroker and its controls. */
export interface StartedBroker {
  /** Which broker. */
  readonly kind: BrokerKind
  /** What Omnibus connects to: `amqp://guest:guest@127.0.0.1:<port>`, `nats://…`, `redis://…`, `kafka://…`. */
  readonly url: string
  /** Which path runs it. */
  readonly via: BrokerVia
  /** Why `via` is what it is (e.g. the engine's error when it fell back to local). */
  readonly reason: string
  /** The image run (docker) or the program (local). */
  readonly source: string
  /** Stops the broker gracefully and starts it again on the same port with its data; resolves once it serves. */
  restart(): Promise<void>
  /** SIGKILL: no shutdown, nothing flushed beyond what the broker made durable. `restart()` brings it back. */
  kill(): Promise<void>
  /** Stops the broker and deletes it with its data. */
  stop(): Promise<void>
}

/** The image each broker runs from when none is given (official names). */
export const DEFAULT_IMAGES: Readonly<Record<BrokerKind, string>> = {
  rabbitmq: "rabbitmq:4",
  nats: "nats:2.10",
  redis: "redis:8",
  kafka: "apache/kafka:4.1.1",
}

const KINDS = Object.keys(DEFAULT_IMAGES) as ReadonlyArray<BrokerKind>

const chosenVia = (options: StartBrokerOptions): BrokerVia | "auto" => {
  const v = options.via ?? process.env.OMNIBUS_TESTING_VIA ?? "auto"
  if (v !== "docker" && v !== "local" && v !== "auto") throw new Error(`startBroker: via must be "docker", "local" or "auto", got ${JSON.stringify(v)}`)
  return v
}

/** Starts a broker (docker when an engine is reachable, else local; see StartBrokerOptions.via) and resolves once it serves clients. */
export const startBroker = async (kind: BrokerKind, options: StartBrokerOptions = {}): Promise<StartedBroker> => {
  if (!KINDS.includes(kind)) throw new Error(`startBroker: unknown broker ${JSON.stringify(kind)} (one of ${KINDS.join(", ")})`)
  const via = chosenVia(options)
  const timeoutMs = options.startupTimeoutMs ?? 120_000
  if (via === "local") return startLocal(kind, timeoutMs, "asked for (via: local)")
  const engine = await dockerEngine()
  if (!engine.reachable) {
    if (via === "docker") throw new Error(`startBroker: no Docker engine reachable: ${engine.reason}`)
    return startLocal(kind, timeoutMs, `no Docker engine reachable: ${engine.reason}`)
  }
  const image = options.image ?? process.env[`OMNIBUS_TESTING_${kind.toUpperCase()}_IMAGE`] ?? DEFAULT_IMAGES[kind]
  return startContainer(kind, image, timeoutMs, via === "docker" ? "asked for (via: docker)" : `Docker engine at ${engine.host}`)
}
