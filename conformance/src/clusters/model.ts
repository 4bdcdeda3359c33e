/**
 * C-model: case 34's model check (conformance/src/faults/model.ts, the same engine and
 * assertions) on a three-node cluster, with kill -9 of seeded-random nodes in its schedule
 * besides the consumer crashes and subscription closes. Every bus connects with a URL listing
 * all nodes in a seeded-random order, so the consumers and the publisher sit on different nodes.
 *
 * The kills: `kills` of them, the i-th at a seeded-random step of the i-th equal span of the
 * schedule's middle 80 %, each node down for 10–40 % of its span and started again (in the
 * background, while the schedule goes on) before the next kill, so at most one node is down at
 * a time. A kill drawn while the previous node is still starting waits for it (the schedule stays
 * the same on a replay). A node still down when the schedule ends is started again before the wait
 * for every message (and the suite starts every killed node again at the end of the case anyway).
 *
 * What counts as caught in flight: a kill disturbs the cluster from the kill until the node is
 * serving again, not at one instant. While a node is down the brokers move its leaderships at a
 * time of their own choosing (a NATS stream or consumer leader after a randomised 4–9 s, a quorum
 * queue's leader, a Redis slot's primary after cluster-node-timeout, a Kafka partition's leader and
 * the group's coordinator once the broker is fenced after 9 s), and until then an ack or a commit
 * sent to the dead leader is lost, also for a message published and delivered after the kill. So a
 * message whose delivery or ack overlapped the node's downtime may come back (a duplicate in the
 * groups without the idempotency store, and out of order in the ordered group) like one a crash
 * caught; nothing lost, the fates, the attempts and no duplicate in the idempotent group are asserted
 * exactly as in case 34.
 */
import { prng, runModelCheck } from "../faults/model.ts"
import type { BrokerFaults, ModelSchedule } from "../faults/model.ts"
import { errorText } from "../wait.ts"
import { defineClusterFault } from "./context.ts"
import type { ClusterContext, ClusterSuite } from "./context.ts"
import type { ClusterNode } from "./harness.ts"

/** The schedule's node kills, drawn from their own stream of the seed (the main schedule is case 34's). */
const nodeKills = (ctx: ClusterContext, kills: number, s: ModelSchedule): BrokerFaults => {
  const rand = prng(s.seed ^ 0x4b1d)
  const nodes = ctx.harness.nodes
  const span = (s.steps * 0.8) / Math.max(1, kills)
  const plan = Array.from({ length: kills }, (_, i) => {
    const at = Math.floor(s.steps * 0.1 + span * i + rand() * span * 0.4)
    const downSteps = Math.max(1, Math.floor(span * (0.1 + rand() * 0.3)))
    return { at, upAt: at + downSteps, node: nodes[Math.floor(rand() * nodes.length)]! }
  })
  let down: { readonly node: ClusterNode; readonly upAt: number; readonly killedAt: number } | undefined
  let starting: Promise<void> | undefined
  const log: Array<string> = []
  const t0 = performance.now()
  // a case that fails mid-schedule: the start under way ends before the suite starts the down nodes again
  ctx.defer(async () => { await starting?.catch(() => undefined) })
  const startAgain = (d: NonNullable<typeof down>): Promise<void> => {
    const p = ctx.restart(d.node).then(() => {
      const upAt = performance.now()
      s.disrupted(d.killedAt, upAt)
      log.push(`${d.node.name} down +${Math.round((d.killedAt - t0) / 1000)}s for ${Math.round(upAt - d.killedAt)} ms`)
      ctx.note(`${d.node.name} serving again, ${Math.round(upAt - d.killedAt)} ms after its kill`)
    })
    p.catch(() => undefined)
    return p
  }
  return {
    label: "node kills",
    beforeStep: async (step) => {
      if (down !== undefined && step >= down.upAt) {
        starting = startAgain(down)
        down = undefined
      }
      const kill = plan.find((k) => k.at === step)
      if (kill === undefined) return false
      await starting
      ctx.note(`step ${step}: kill -9 of ${kill.node.name}, started again at step ${kill.upAt}`)
      const killedAt = performance.now()
      await ctx.kill(kill.node)
      down = { node: kill.node, upAt: kill.upAt, killedAt }
      return true
    },
    finish: async () => {
      if (down !== undefined) {
        starting = startAgain(down)
        down = undefined
      }
      try {
        await starting
      } catch (e) {
        throw new Error(`a killed node did not start again: ${errorText(e)}`, { cause: e })
      }
    },
    describe: () => log.join(", "),
  }
}

export const registerClusterModel = (suite: ClusterSuite): void => {
  defineClusterFault(suite, "C-model", async (ctx) => {
    const h = ctx.harness
    const kills = Number(process.env.OMNIBUS_MODEL_KILLS ?? h.model?.kills ?? 3)
    await runModelCheck(ctx, h.model?.steps ?? 1_500, (seed) => {
      const order = prng(seed ^ 0x5eed)
      return {
        // every bus lists all nodes, in a seeded-random order (Fisher–Yates)
        url: () => {
          const list = [...h.nodes]
          for (let i = list.length - 1; i > 0; i--) {
            const j = Math.floor(order() * (i + 1))
            ;[list[i], list[j]] = [list[j]!, list[i]!]
          }
          return h.url(list)
        },
        options: { leaseMs: h.leaseMs, connectTimeoutMs: 30_000 },
        disruptionRate: h.model?.disruptionRate ?? 1,
        faults: (schedule) => nodeKills(ctx, kills, schedule),
      }
    })
  }, { timeoutMs: 240_000 })
}
