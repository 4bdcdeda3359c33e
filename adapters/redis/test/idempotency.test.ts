import { Redis } from "ioredis"
import { afterAll, describe, expect, it } from "vitest"
import { RedisIdempotencyStore } from "../src/idempotency.ts"
import { eventually, REDIS_URL, unique } from "./helpers.ts"

const client = new Redis(REDIS_URL)
const store = new RedisIdempotencyStore({ client })
const fromUrl = new RedisIdempotencyStore({ url: REDIS_URL })
afterAll(async () => {
  await fromUrl.close()
  client.disconnect()
})

describe("RedisIdempotencyStore", () => {
  it("claims once, completes, releases, and lets a lapsed lease be taken over", async () => {
    const key = unique("idem")
    expect(await store.claim(key, 10_000)).toBe("acquired")
    expect(await fromUrl.claim(key, 10_000)).toBe("in-progress")
    await store.release(key)
    expect(await fromUrl.claim(key, 10_000)).toBe("acquired")
    await fromUrl.complete(key, 10_000)
    expect(await store.claim(key, 10_000)).toBe("done")
    await store.release(key) // a done mark is not released
    expect(await store.claim(key, 10_000)).toBe("done")

    const lapsing = unique("idem")
    expect(await store.claim(lapsing, 50)).toBe("acquired")
    await eventually(async () => (await store.claim(lapsing, 10_000)) === "acquired", 2_000, "lease to lapse")
    expect(await client.pttl(`omnibus:idem:${lapsing}`)).toBeGreaterThan(0)
    await client.del(`omnibus:idem:${key}`, `omnibus:idem:${lapsing}`)
  })
})
