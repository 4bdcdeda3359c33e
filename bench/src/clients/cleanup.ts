/** Removes every broker object of one benchmark namespace (shared brokers stay clean). */
import { hostPort } from "../env.ts"

// Clients are imported when used, so a process measuring one client does not load the others.

export const cleanupAmqp = async (url: string, what: { exchanges: ReadonlyArray<string>; queues: ReadonlyArray<string> }): Promise<void> => {
  const amqp = await import("amqplib")
  const conn = await amqp.connect(url)
  try {
    for (const q of what.queues) {
      // A channel dies on a 404 in some broker versions; use one per object.
      const ch = await conn.createChannel()
      ch.on("error", () => {})
      await ch.deleteQueue(q).catch(() => {})
      await ch.close().catch(() => {})
    }
    for (const x of what.exchanges) {
      const ch = await conn.createChannel()
      ch.on("error", () => {})
      await ch.deleteExchange(x).catch(() => {})
      await ch.close().catch(() => {})
    }
  } finally {
    await conn.close().catch(() => {})
  }
}

export const cleanupNats = async (url: string, prefix: string): Promise<void> => {
  const { connect: natsConnect } = await import("@nats-io/transport-node")
  const { jetstreamManager } = await import("@nats-io/jetstream")
  const { host, port } = hostPort(url)
  const nc = await natsConnect({ servers: `${host}:${port}` })
  try {
    const jsm = await jetstreamManager(nc)
    const names: Array<string> = []
    for await (const name of jsm.streams.names()) if (name === prefix || name.startsWith(`${prefix}-`) || name.startsWith(`${prefix}_`)) names.push(name)
    for (const n of names) await jsm.streams.delete(n).catch(() => {})
  } finally {
    await nc.close()
  }
}

export const cleanupRedis = async (url: string, keyPrefix: string): Promise<void> => {
  const { Redis } = await import("ioredis")
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  r.on("error", () => {})
  await r.connect()
  try {
    const pattern = `${keyPrefix.replace(/[{}*?[\]\\]/g, (c) => `\\${c}`)}*`
    let cursor = "0"
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", pattern, "COUNT", 1000)
      cursor = next
      if (keys.length) await r.unlink(...keys)
    } while (cursor !== "0")
  } finally {
    r.disconnect()
  }
}

export const cleanupKafka = async (url: string, prefix: string): Promise<void> => {
  const { default: kafkajs } = await import("kafkajs")
  const { host, port } = hostPort(url)
  const kafka = new kafkajs.Kafka({ clientId: "bench-cleanup", brokers: [`${host}:${port}`], logLevel: kafkajs.logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix))
    if (groups.length) await admin.deleteGroups(groups).catch(() => {})
    const topics = (await admin.listTopics()).filter((t) => t === prefix || t.startsWith(`${prefix}.`) || t.startsWith(`${prefix}-`))
    if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => {})
  } finally {
    await admin.disconnect()
  }
}
