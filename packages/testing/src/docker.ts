/**
 * The Docker path of startBroker: testcontainers (its RabbitMQ and Redis
 * modules, a GenericContainer for NATS and Kafka) on the host's network, each
 * broker told through its image's own configuration (standard environment
 * variables or command flags) to listen on 127.0.0.1 on free ports. The same
 * settings work with the official images and with the offline builds of
 * scripts/testing-images.sh.
 *
 * Kafka: @testcontainers/kafka drives Confluent's cp-kafka images (its start
 * script and the advertised listeners it derives from mapped ports), not the
 * apache/kafka image's KAFKA_* contract, so a GenericContainer runs it.
 */
import { randomBytes } from "node:crypto"
import { freePorts } from "@omnibus/conformance/brokers"
import { RabbitMQContainer } from "@testcontainers/rabbitmq"
import { RedisContainer } from "@testcontainers/redis"
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from "testcontainers"
import type { BrokerKind, StartedBroker } from "./broker.ts"
import { HostPortWait, hostNetworked } from "./host-network.ts"

export type Engine = { readonly reachable: true; readonly host: string } | { readonly reachable: false; readonly reason: string }

let engine: Promise<Engine> | undefined

/** Whether testcontainers finds a working engine (asked once per process). */
export const dockerEngine = (): Promise<Engine> =>
  (engine ??= getContainerRuntimeClient().then(
    (client): Engine => ({ reachable: true, host: `${client.info.containerRuntime.host} (engine API ${client.info.containerRuntime.serverVersion})` }),
    (e: unknown): Engine => ({ reachable: false, reason: e instanceof Error ? e.message : String(e) }),
  ))

const HostRabbitMQ = hostNetworked(RabbitMQContainer)
const HostRedis = hostNetworked(RedisContainer)
const HostGeneric = hostNetworked(GenericContainer)

/** Every container we start carries this label: scripts/docker.sh removes leftovers by it. */
const LABEL = "omnibus.testing"

interface Spec {
  readonly container: GenericContainer
  readonly url: string
  /** The broker's own "serving" line, checked after each start besides the port. */
  readonly ready: string
  readonly port: number
}

const specs: Record<BrokerKind, (image: string) => Promise<Spec>> = {
  rabbitmq: async (image) => {
    const [port, distPort] = (await freePorts(2)) as [number, number]
    const container = new HostRabbitMQ(image).withEnvironment({
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      // one node name per container: the host's epmd may hold other nodes already
      RABBITMQ_NODENAME: `omnibus-${randomBytes(4).toString("hex")}@localhost`,
      ERL_EPMD_ADDRESS: "127.0.0.1",
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    })
    return { container, port, ready: "Server startup complete", url: `amqp://guest:guest@127.0.0.1:${port}` }
  },
  nats: async (image) => {
    const [port] = (await freePorts(1)) as [number]
    const container = new HostGeneric(image).withCommand(["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", "/data"])
    return { container, port, ready: "Server is ready", url: `nats://127.0.0.1:${port}` }
  },
  redis: async (image) => {
    const [port] = (await freePorts(1)) as [number]
    // every write in the append-only file before the reply: kill() keeps what was acknowledged
    const container = new HostRedis(image).withCommand(["redis-server", "--bind", "127.0.0.1", "--port", String(port), "--appendonly", "yes", "--appendfsync", "always", "--save", ""])
    return { container, port, ready: "Ready to accept connections", url: `redis://127.0.0.1:${port}` }
  },
  kafka: async (image) => {
    const [port, controllerPort] = (await freePorts(2)) as [number, number]
    const container = new HostGeneric(image).withEnvironment({
      CLUSTER_ID: randomBytes(16).toString("base64url").replace(/^-/, "A").slice(0, 22),
      KAFKA_NODE_ID: "1",
      KAFKA_PROCESS_ROLES: "broker,controller",
      KAFKA_LISTENERS: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      KAFKA_CONTROLLER_QUORUM_VOTERS: `1@127.0.0.1:${controllerPort}`,
      KAFKA_NUM_PARTITIONS: "3",
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
      KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: "4",
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: "1",
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: "1",
      // tests: the first join is not held back, short sessions (leaseMs) are allowed,
      // offset commits are not held back to batch them (as scripts/kafka.sh)
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
      KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS: "500",
      KAFKA_GROUP_COORDINATOR_APPEND_LINGER_MS: "0",
      KAFKA_MESSAGE_MAX_BYTES: "10485760",
      KAFKA_HEAP_OPTS: "-Xms256m -Xmx1g",
    })
    return { container, port, ready: "Kafka Server started", url: `kafka://127.0.0.1:${port}` }
  },
}

export const startContainer = async (kind: BrokerKind, image: string, timeoutMs: number, reason: string): Promise<StartedBroker> => {
  const spec = await specs[kind](image)
  // An image that is not on the engine is pulled; one that is (e.g. built offline) is used as it is.
  const started: StartedTestContainer = await spec.container
    .withLabels({ [LABEL]: kind })
    .withWaitStrategy(Wait.forAll([Wait.forLogMessage(spec.ready), new HostPortWait(spec.port)]))
    .withStartupTimeout(timeoutMs)
    .start()
  const client = await getContainerRuntimeClient()
  const container = client.container.getById(started.getId())
  let stopped = false
  return {
    kind,
    url: spec.url,
    via: "docker",
    reason,
    source: image,
    // docker restart: SIGTERM, SIGKILL after the grace period, start; the wait strategy runs again on the new logs.
    restart: () => started.restart({ timeout: 30_000 }),
    kill: async () => {
      await container.kill({ signal: "SIGKILL" })
      await container.wait()
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      await started.stop({ timeout: 10_000, remove: true, removeVolumes: true })
    },
  }
}
