// A user's plain ESM script: brokers chosen by URL only (core imports the
// adapter package that serves the scheme), no import of any adapter package.
// Usage: node main.mjs <url>...
import { connect } from "@omnibus/core"
import { randomBytes } from "node:crypto"

const within = (promise, ms, what) => {
  let timer
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Subscribe with a group, publish, wait for the delivery, request/reply, close. Returns the group to clean up. */
const exercise = async (url) => {
  const run = `pkg${randomBytes(5).toString("hex")}`
  const group = `${run}-group`
  const bus = await within(connect(url), 15_000, `connect ${url.replace(/\/\/[^@]*@/, "//")}`)
  let delivered
  const received = new Promise((resolve) => { delivered = resolve })
  const sub = await bus.subscribe(`${run}.*`, async (msg) => delivered(msg), { group })
  await bus.publish(`${run}.created`, { id: 7 }, { key: "7" })
  const msg = await within(received, 10_000, "delivery")
  if (msg.routingKey !== `${run}.created` || msg.payload?.id !== 7) throw new Error(`unexpected delivery ${JSON.stringify(msg.payload)}`)

  const server = await bus.handle(`${run}.double`, (req) => ({ doubled: req.payload.n * 2 }))
  const reply = await within(bus.request(`${run}.double`, { n: 21 }, { timeout: "5 seconds" }), 10_000, "request")
  if (reply?.doubled !== 42) throw new Error(`unexpected reply ${JSON.stringify(reply)}`)

  if ((await bus.deadLetters.list(group)).length !== 0) throw new Error("dead letters where none were expected")
  await sub.close()
  await server.close()
  await within(bus.close(), 10_000, "close")
  console.log(`ok ${bus.transport}: delivery + request/reply (node ${process.version})`)
  return group
}

/** RabbitMQ keeps a group's durable queues after close (no API deletes a group): drop them with amqplib. */
const dropRabbitGroup = async (url, group) => {
  const { connect: amqp } = await import("amqplib")
  const conn = await amqp(url)
  const channel = await conn.createChannel()
  for (const queue of [`omnibus.${group}`, `omnibus.${group}/delay`, `omnibus.${group}/dlq`]) await channel.deleteQueue(queue)
  await conn.close()
}

for (const url of process.argv.slice(2)) {
  const group = await exercise(url)
  if (/^amqps?:/i.test(url)) await dropRabbitGroup(url, group)
}
