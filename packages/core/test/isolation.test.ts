import { describe, expect, it } from "vitest"
import { SoloGate, soloBudget } from "../src/isolation.ts"

const tick = () => new Promise<void>((r) => setImmediate(r))

describe("SoloGate", () => {
  it("runs a suspect only once every normal handler has left, and holds new ones back meanwhile", async () => {
    const gate = new SoloGate()
    const log: Array<string> = []
    expect(gate.enter()).toBeUndefined()
    expect(gate.enter()).toBeUndefined()
    const alone = gate.enterAlone().then(() => log.push("suspect in"))
    const late = gate.enter()
    expect(late, "a normal arriving while a suspect waits").toBeInstanceOf(Promise)
    void late!.then(() => log.push("late in"))
    gate.leave()
    await tick()
    expect(log).toEqual([])
    gate.leave()
    await tick()
    await alone
    expect(log).toEqual(["suspect in"])
    gate.leaveAlone()
    await late
    expect(log).toEqual(["suspect in", "late in"])
  })

  it("starts the suspect after writes the last handler's settlement left for the end of the turn", async () => {
    const gate = new SoloGate()
    const log: Array<string> = []
    void gate.enter()
    const alone = gate.enterAlone().then(() => log.push("suspect"))
    // an adapter that batches acks to the end of the turn (setImmediate), then the handler leaves
    setImmediate(() => log.push("ack written"))
    gate.leave()
    await alone
    expect(log).toEqual(["ack written", "suspect"])
  })

  it("runs suspects one at a time", async () => {
    const gate = new SoloGate()
    let inside = 0
    let most = 0
    await Promise.all(
      [1, 2, 3].map(async () => {
        await gate.enterAlone()
        most = Math.max(most, ++inside)
        await tick()
        inside--
        gate.leaveAlone()
      }),
    )
    expect(most).toBe(1)
  })

  it("needs one crash alone at least before a message is poison", () => {
    expect([soloBudget(0), soloBudget(1), soloBudget(5)]).toEqual([1, 1, 5])
  })
})
