/**
 * The coordinator lookup of the member's own requests (src/coordinator.ts), no broker: a single
 * broker is always its own coordinator, so what a node's kill does to the lookup is played
 * here. After a kill, a member still knew the dead node as coordinator while the metadata no
 * longer listed it; it took that for a refusal of its commit and left its partitions unread
 * for good (the cluster fault suite's C-rolling-restart, docs/clusters.md).
 */
import { describe, expect, it } from "vitest"
import { NetworkError, ResponseError } from "@platformatic/kafka"
import { coordinatorOf, isTransient } from "../src/coordinator.ts"

/** A cluster whose coordinator answers and metadata the test sets; counts FindCoordinator calls. */
const cluster = (named: Array<number>, listed: Array<ReadonlyArray<number>>) => {
  let finds = 0
  let reads = 0
  const coordinator = coordinatorOf({
    find: async () => named[Math.min(finds++, named.length - 1)]!,
    brokers: async () => new Map(listed[Math.min(reads++, listed.length - 1)]!.map((id) => [id, `broker-${id}`])),
    connect: async (broker: string) => `connection to ${broker}`,
  })
  return { coordinator, finds: () => finds }
}

describe("kafka coordinator lookup", () => {
  it("a coordinator the metadata does not list yet is transient and looked up again: the commit is retried, not refused", async () => {
    // node 1 was killed: the member knew it as coordinator, the metadata already dropped it
    const c = cluster([1, 2], [[2, 3]])
    const first = await c.coordinator.connection().then(() => undefined, (e: unknown) => e)
    expect(first).toBeInstanceOf(Error)
    expect(isTransient(first)).toBe(true)
    await expect(c.coordinator.connection()).resolves.toBe("connection to broker-2")
    expect(c.finds()).toBe(2)
  })

  it("a node that came back is found once the metadata lists it", async () => {
    const c = cluster([1], [[2, 3], [1, 2, 3]])
    const first = await c.coordinator.connection().then(() => undefined, (e: unknown) => e)
    expect(isTransient(first)).toBe(true)
    await expect(c.coordinator.connection()).resolves.toBe("connection to broker-1")
  })

  it("no coordinator elected yet (negative node id) is transient", async () => {
    const c = cluster([-1, 3], [[2, 3]])
    expect(isTransient(await c.coordinator.connection().then(() => undefined, (e: unknown) => e))).toBe(true)
    await expect(c.coordinator.connection()).resolves.toBe("connection to broker-3")
  })

  it("keeps the coordinator until told to forget it (a failed request)", async () => {
    const c = cluster([2, 3], [[2, 3]])
    await c.coordinator.connection()
    await c.coordinator.connection()
    expect(c.finds()).toBe(1)
    c.coordinator.forget()
    await expect(c.coordinator.connection()).resolves.toBe("connection to broker-3")
  })

  it("network errors and coordinator moves are transient; the broker's refusal of the membership is not", () => {
    expect(isTransient(new NetworkError("Connection closed"))).toBe(true)
    expect(isTransient(new ResponseError(8, 9, { "/": [16, null] }, undefined))).toBe(true) // NOT_COORDINATOR
    expect(isTransient(new ResponseError(8, 9, { "/": [14, null] }, undefined))).toBe(true) // COORDINATOR_LOAD_IN_PROGRESS
    expect(isTransient(new ResponseError(8, 9, { "/": [22, null] }, undefined))).toBe(false) // ILLEGAL_GENERATION
    expect(isTransient(new ResponseError(8, 9, { "/": [25, null] }, undefined))).toBe(false) // UNKNOWN_MEMBER_ID
    expect(isTransient(new Error("something else"))).toBe(false)
  })
})
