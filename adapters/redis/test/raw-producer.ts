/**
 * A foreign Redis producer: plain ioredis XADDs to the group streams
 * (`<prefix>{<namespace>}:g:<group>`, payload first, then header fields: the
 * documented interop layout), for the bad-input and conformance suites.
 */
import type { RawMessage } from "@omnibus/conformance/bad-input"
import { Redis } from "ioredis"
import { Keys } from "../src/keys.ts"

export const rawProducer = (url: string, namespace: string) => {
  const keys = new Keys({ prefix: "omnibus:", namespace })
  let client: Redis | undefined
  return {
    async writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void> {
      client ??= new Redis(url)
      const pipeline = client.pipeline()
      for (const m of messages) {
        const fields: Array<string | Buffer> = ["payload", Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength)]
        for (const [k, v] of Object.entries(m.headers ?? {})) fields.push(k, v)
        if (m.contentType !== undefined) fields.push("content-type", m.contentType)
        pipeline.xadd(keys.group(m.group), "*", ...fields)
      }
      const results = (await pipeline.exec()) ?? []
      const failed = results.filter(([e]) => e !== null)
      if (failed.length > 0) throw new Error(`${failed.length} raw XADDs failed: ${String(failed[0]![0])}`)
    },
    async close(): Promise<void> {
      client?.disconnect()
    },
  }
}
