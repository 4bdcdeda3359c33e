/**
 * RPC over topics: requests on `<prefix>.rpc.<method>`, consumed by the
 * consumer group `<prefix>/rpc/<method>/<group>` (servers of one group share
 * them); replies on a per-transport reply topic read by a private consumer,
 * matched by correlation id. NoResponders: no consumer group of the method
 * has a member (admin DescribeGroups), checked before sending. The requester
 * picks each request's partition (rpc-routing.ts), so requests stop going to
 * a dead server's partitions long before the group's session times out.
 */
import { randomUUID } from "node:crypto"
import { BusClosed, NoResponders, untilAborted, type Envelope } from "@omnibus/core/adapter"
import type { Consumption, IncomingRequest, ServeSpec } from "@omnibus/core/adapter"
import { newRunState, Slots, wakeAll } from "./batch.ts"
import type { Member } from "./group-consumer.ts"
import { PartitionRunner } from "./partitions.ts"
import { timings, type ConsumerDeps } from "./consumer.ts"
import { PartitionPicker } from "./rpc-routing.ts"
import { fromRecord, RPC_PARTITION_HEADER, toRecord } from "./wire.ts"

export const serve = async (deps: ConsumerDeps, spec: ServeSpec, onRequest: (r: IncomingRequest) => void): Promise<Consumption> => {
  const { client, names, topology } = deps
  const topic = names.rpc(spec.method)
  const groupId = names.rpcGroupId(spec.method, spec.group)
  await topology.ensureTopics([topic])
  await topology.startAtEnd(groupId, topic)
  const state = newRunState()
  const slots = new Slots(Math.max(1, spec.concurrency))
  const t = timings(deps.rpcLeaseMs)
  const runner = new PartitionRunner({
    state,
    heartbeatMs: t.heartbeatIntervalMs,
    window: Math.max(1, spec.concurrency),
    acquire: async (cancel) => {
      if (!(await slots.acquire(cancel))) return false
      if (state.stopped || state.aborted) {
        slots.release()
        return false
      }
      return true
    },
    tryAcquire: () => !state.stopped && !state.aborted && slots.tryAcquire(),
    releaseSlot: () => slots.release(),
    deliver: (rec, _extra, settle, from) => {
      const envelope = fromRecord(from.topic, from.partition, rec)
      let done = false
      onRequest({
        envelope,
        reply: async (reply: Envelope) => {
          const to = envelope.replyTo
          if (to === undefined || state.aborted || deps.transportState.aborted) return
          await deps.sends.send(to, [toRecord(reply, { [RPC_PARTITION_HEADER]: String(from.partition) })])
        },
        done: async () => {
          if (done || state.aborted || deps.transportState.aborted) return
          done = true
          slots.release()
          settle()
        },
      })
    },
  })
  const consumer = client.member({ groupId, topics: [topic], ...t }, runner)
  runner.attach(consumer)
  const onAbort = () => {
    state.aborted = true
    wakeAll(state)
  }
  deps.transportState.wake.addEventListener("wake", onAbort)
  let closed: Promise<void> | undefined
  const entry = {
    state,
    close: () => {
      closed ??= (async () => {
        state.stopped = true
        wakeAll(state)
        deps.transportState.wake.removeEventListener("wake", onAbort)
        await consumer.disconnect().catch(() => undefined)
        deps.registry.delete(entry)
      })()
      return closed
    },
  }
  deps.registry.add(entry)
  try {
    await consumer.start()
  } catch (e) {
    await entry.close()
    throw e
  }
  return {
    stop: async () => {
      state.stopped = true
      wakeAll(state)
    },
    close: () => entry.close(),
  }
}

export class Requester {
  private readonly deps: ConsumerDeps
  private readonly id = randomUUID()
  private readonly pending = new Map<string, (e: Envelope) => void>()
  private started: Promise<void> | undefined
  private consumer: Member | undefined
  private readonly checks = new Map<string, Promise<boolean>>()
  private readonly pickers = new Map<string, Promise<PartitionPicker>>()
  private readonly state = newRunState()

  constructor(deps: ConsumerDeps) {
    this.deps = deps
  }

  private get replyTopic(): string {
    return this.deps.names.reply(this.id)
  }

  private start(): Promise<void> {
    this.started ??= (async () => {
      const { client, names, topology } = this.deps
      await topology.ensureTopics([this.replyTopic], 1)
      const t = timings(this.deps.leaseMs)
      const runner = new PartitionRunner({
        state: this.state,
        heartbeatMs: t.heartbeatIntervalMs,
        // Every reply is settled at once: matched to its waiter here, a late one dropped.
        accepts: (rec, from) => {
          const env = fromRecord(from.topic, from.partition, rec)
          const servedFrom = Number(rec.headers[RPC_PARTITION_HEADER] ?? Number.NaN)
          // also a late reply: its partition is read by a live server again
          if (Number.isInteger(servedFrom)) void this.pickers.get(env.routingKey)?.then((p) => p.served(servedFrom), () => undefined)
          const waiter = env.correlationId === undefined ? undefined : this.pending.get(env.correlationId)
          if (waiter) waiter(env)
          return false
        },
        window: 1,
        acquire: async () => false,
        tryAcquire: () => false,
        releaseSlot: () => undefined,
        deliver: () => undefined,
      })
      this.consumer = client.member({ groupId: names.replyGroupId(this.id), topics: [this.replyTopic], ...t }, runner)
      runner.attach(this.consumer)
      await this.consumer.start()
    })().catch((e: unknown) => {
      this.started = undefined
      throw e
    })
    return this.started
  }

  /** Concurrent requests for one method share one check; nothing is cached (a server may just have left). */
  private hasResponders(method: string): Promise<boolean> {
    let p = this.checks.get(method)
    if (!p) {
      const { client, names } = this.deps
      const prefix = names.rpcGroupPrefix(method)
      p = (async () => {
        const groups = (await client.listGroups()).filter((g) => g.startsWith(prefix))
        const members = await client.groupMembers(groups)
        return [...members.values()].some((n) => n > 0)
      })().finally(() => this.checks.delete(method))
      this.checks.set(method, p)
    }
    return p
  }

  /** One picker per method, sized to its topic (created here if missing). */
  private picker(method: string): Promise<PartitionPicker> {
    let p = this.pickers.get(method)
    if (!p) {
      const topic = this.deps.names.rpc(method)
      p = (async () => {
        await this.deps.topology.ensureTopics([topic])
        return new PartitionPicker(await this.deps.client.partitionCount(topic))
      })()
      p.catch(() => this.pickers.delete(method))
      this.pickers.set(method, p)
    }
    return p
  }

  async request(request: Envelope, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<Envelope> {
    if (this.deps.transportState.aborted || this.deps.transportState.stopped) throw new BusClosed({ operation: "request" })
    const method = request.routingKey
    const correlationId = request.correlationId ?? randomUUID()
    let settle: ((e: Envelope) => void) | undefined
    const reply = new Promise<Envelope>((resolve) => {
      settle = resolve
    })
    // Every step stops at the signal: core holds the deadline (rpc/client.ts) and aborts it when it passes.
    const bounded = <T>(p: Promise<T>): Promise<T> => untilAborted(p, options.signal, () => options.signal.reason)
    this.pending.set(correlationId, (e) => settle?.(e))
    try {
      await bounded(Promise.all([this.start(), this.hasResponders(method).then((ok) => {
        if (!ok) throw new NoResponders({ method })
      })]))
      const picker = await bounded(this.picker(method))
      const partition = picker.pick()
      let answered = false
      try {
        await bounded(this.deps.sends.send(this.deps.names.rpc(method), [{ ...toRecord({ ...request, correlationId, replyTo: this.replyTopic }), partition }]))
        const env = await bounded(reply)
        answered = true
        return env
      } finally {
        if (answered) picker.answered(partition)
        else picker.givenUp(partition)
      }
    } finally {
      this.pending.delete(correlationId)
    }
  }

  async close(removeState: boolean): Promise<void> {
    if (!this.started) return
    await this.started.catch(() => undefined)
    await this.consumer?.disconnect().catch(() => undefined)
    if (removeState) {
      await this.deps.topology.deleteGroups([this.deps.names.replyGroupId(this.id)]).catch(() => undefined)
      await this.deps.topology.deleteTopics([this.replyTopic]).catch(() => undefined)
    }
  }
}
