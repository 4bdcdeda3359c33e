import { describe, expect, it } from "vitest"
import { KeyedSerializer } from "../src/ordering.ts"

const tick = () => new Promise<void>((r) => setImmediate(r))

describe("KeyedSerializer", () => {
  it("runs one key in order and different keys side by side", async () => {
    const k = new KeyedSerializer()
    const log: Array<string> = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const a1 = k.run("a", async () => { log.push("a1 start"); await gate; log.push("a1 end") })
    const a2 = k.run("a", async () => { log.push("a2") })
    const b1 = k.run("b", async () => { log.push("b1") })
    await b1
    expect(log).toEqual(["a1 start", "b1"]) // b is not held back by a
    release()
    await Promise.all([a1, a2])
    expect(log).toEqual(["a1 start", "b1", "a1 end", "a2"])
    await tick()
    expect(k.activeKeys).toBe(0)
  })

  it("a failing task does not stop the key's next task", async () => {
    const k = new KeyedSerializer()
    const log: Array<number> = []
    const first = k.run("a", async () => { throw new Error("x") })
    const second = k.run("a", async () => { log.push(2) })
    await expect(first).rejects.toThrow("x")
    await second
    expect(log).toEqual([2])
  })
})

import { Permits } from "../src/ordering.ts"

describe("Permits", () => {
  it("never lets more than its size run, and serves waiters first in, first out", async () => {
    const p = new Permits(2)
    let running = 0
    let peak = 0
    const order: Array<number> = []
    const task = async (i: number) => {
      await p.acquire()
      running++
      peak = Math.max(peak, running)
      order.push(i)
      await new Promise<void>((r) => setImmediate(r))
      running--
      p.release()
    }
    await Promise.all(Array.from({ length: 5000 }, (_, i) => task(i)))
    expect(peak).toBe(2)
    expect(order).toEqual(Array.from({ length: 5000 }, (_, i) => i))
  })
})
