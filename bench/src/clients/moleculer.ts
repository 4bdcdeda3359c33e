/**
 * The peer framework: Moleculer 0.15 with its transporter for the broker
 * (AMQP, NATS, Redis, Kafka), as its docs write it: a balanced event group is
 * a service listening to the event (broker.emit delivers one copy per group),
 * RPC is an action called with broker.call. Every group and the RPC server run
 * on their own ServiceBroker node (in this process), so messages cross the
 * transporter instead of Moleculer's in-process shortcut.
 *
 * What Moleculer does not offer: durable groups (an event emitted while no
 * node of a group is connected is not kept), and publisher confirms (emit
 * resolves once the transporter has written the packet).
 */
import moleculer from "moleculer"
import type { ServiceBroker as Broker } from "moleculer"
import type { Body, Broker as BrokerKind, Contender, Session } from "../types.ts"
import { hostPort } from "../env.ts"
import { cleanupKafka } from "./cleanup.ts"
import { RPC_TIMEOUT_MS } from "./pending-replies.ts"

const EVENT = "bench.msg"

/** A transporter URL (Moleculer resolves the transporter by scheme; its typings only list names and objects). */
type Transporter = NonNullable<ConstructorParameters<typeof moleculer.ServiceBroker>[0]>["transporter"]
const transporterFor = (broker: BrokerKind, url: string): Transporter => {
  if (broker === "kafka") {
    const { host, port } = hostPort(url)
    return `kafka://${host}:${port}` as Transporter
  }
  return url as Transporter
}

class MoleculerSession implements Session {
  private readonly pub: Broker
  private readonly transporter: Transporter
  private readonly ns: string
  private readonly nodes: Array<Broker> = []
  private readonly declared = new Set<string>()
  private readonly handlers = new Map<string, (b: Body) => void>()

  constructor(pub: Broker, transporter: Transporter, ns: string) {
    this.pub = pub
    this.transporter = transporter
    this.ns = ns
  }

  static async open(broker: BrokerKind, url: string, ns: string): Promise<MoleculerSession> {
    const transporter = transporterFor(broker, url)
    const pub = new moleculer.ServiceBroker({ namespace: ns, nodeID: `${ns}-pub`, transporter, logger: false })
    await pub.start()
    return new MoleculerSession(pub, transporter, ns)
  }

  private async node(name: string, schema: Parameters<Broker["createService"]>[0]): Promise<Broker> {
    const node = new moleculer.ServiceBroker({ namespace: this.ns, nodeID: `${this.ns}-${name}`, transporter: this.transporter, logger: false })
    node.createService(schema)
    await node.start()
    this.nodes.push(node)
    await this.pub.waitForServices([schema.name], 30_000, 20)
    return node
  }

  async publish(body: Body): Promise<void> {
    await this.pub.emit(EVENT, body)
  }

  async publishBatch(bodies: ReadonlyArray<Body>): Promise<void> {
    // No batch API: emit each, wait for all.
    await Promise.all(bodies.map((b) => this.pub.emit(EVENT, b)))
  }

  /** No durable groups: a node of the group must be connected for emit to deliver. */
  async declareGroup(group: string): Promise<void> {
    if (this.declared.has(group)) return
    this.declared.add(group)
    const handlers = this.handlers
    await this.node(group, {
      name: group,
      events: {
        [EVENT]: {
          handler(ctx: { params: Body }) {
            handlers.get(group)?.(ctx.params)
          },
        },
      },
    })
  }

  async consume(group: string, onMessage: (b: Body) => void) {
    this.handlers.set(group, onMessage)
    await this.declareGroup(group)
    return { close: async () => { this.handlers.delete(group) } }
  }

  async serve() {
    await this.node("rpc", {
      name: "bench",
      actions: {
        echo(ctx: { params: { seq: number } }) {
          return { seq: ctx.params.seq }
        },
      },
    })
    return { close: async () => {} }
  }

  async request(seq: number): Promise<void> {
    await this.pub.call("bench.echo", { seq }, { timeout: RPC_TIMEOUT_MS })
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()))
    await this.pub.stop().catch(() => {})
  }
}

export const moleculerPeer = (broker: BrokerKind, url: string): Contender => ({
  name: "moleculer",
  kind: "peer",
  skips: { memory: "no durable groups: Moleculer keeps no backlog for a consumer that is not running", selective: "compares Omnibus' layout with the raw client's only" },
  notes: "emit resolves when the transporter wrote the packet (no broker confirm); groups are not durable",
  open: (ns) => MoleculerSession.open(broker, url, ns),
  cleanup: async (ns) => {
    if (broker === "kafka") await cleanupKafka(url, `MOL-${ns}`)
  },
})
