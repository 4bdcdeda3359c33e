/**
 * The fault suite (section G of docs/conformance.md) against a private RabbitMQ node
 * (own node name, ports, mnesia dir; see conformance/src/brokers/rabbitmq.ts)
 * that the suite starts, kills (-9) and restarts. Classic durable queues:
 * run with queueType "quorum", 2 model checks in 9 stalled after a kill -9 and
 * restart of RabbitMQ 3.10.8: the broker never again elected a leader for a
 * quorum queue declared seconds before the kill ("leader not known"; each
 * basic.consume on it timed out after 15 s and closed the connection), so
 * quorum queues are covered by the conformance suite only (rabbitmq-quorum).
 */
import { connect } from "@omnibus/core"
import type { TransportOptions } from "@omnibus/core"
import { launchRabbitmq } from "@omnibus/conformance/brokers"
import { describeFaults } from "@omnibus/conformance/faults"
import "../src/index.ts"

/** amqplib takes the heartbeat (seconds) from the URL query. */
const withQuery = (url: string, options: TransportOptions | undefined): [string, TransportOptions] => {
  const { heartbeat, ...rest } = options ?? {}
  if (heartbeat === undefined) return [url, rest]
  const u = new URL(url)
  u.searchParams.set("heartbeat", String(heartbeat))
  return [u.toString(), rest]
}

describeFaults("rabbitmq", {
  launch: (options) => launchRabbitmq(options).then(async (l) => { await l.start(); return l }),
  connect: (url, options) => {
    const [u, o] = withQuery(url, options)
    return connect(u, { connectTimeoutMs: 15_000, reconnectMaxDelayMs: 1_000, ...o })
  },
  adapterModule: new URL("../src/index.ts", import.meta.url).href,
  leaseMs: 1_000,
  // amqplib: heartbeat=1 s, the socket is dropped after 2 missed heartbeats
  heartbeat: { options: { heartbeat: 1 }, detectWithinMs: 4_000, how: "AMQP heartbeat 1 s (dropped after 2 missed)" },
  tlsOptions: (tls) => ({ tls: { ca: [tls.ca] } }),
})
