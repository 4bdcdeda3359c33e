/**
 * Dead letters live in a stream per group (`dlq:<group>`): the original
 * payload and wire headers plus the failure metadata fields. Replay copies
 * entries back into the group's own stream (so only that group sees them),
 * without failure metadata or attempt header (attempt restarts at 1), and
 * deletes them from the dead-letter stream, in one script.
 */
import { BusClosed } from "@omnibus/core"
import type { DeadLetter, DeadLetterStore } from "@omnibus/core/adapter"
import { Wire } from "@omnibus/core/adapter"
import type { AdapterContext } from "./context.ts"
import { failureFromHeaders } from "@omnibus/core/adapter"
import { parseFields, toEnvelope } from "./fields.ts"

type Entries = Array<[Buffer, Array<Buffer>]>

export class RedisDeadLetters implements DeadLetterStore {
  private readonly ctx: AdapterContext
  constructor(ctx: AdapterContext) {
    this.ctx = ctx
  }

  private async range(group: string, limit?: number): Promise<Entries> {
    if (!this.ctx.isOpen()) throw new BusClosed({ operation: "deadLetters" })
    const key = this.ctx.keys.deadLetters(group)
    return (limit === undefined
      ? await this.ctx.cmd.callBuffer("XRANGE", key, "-", "+")
      : await this.ctx.cmd.callBuffer("XRANGE", key, "-", "+", "COUNT", Math.max(0, limit))) as Entries
  }

  async list(group: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<DeadLetter>> {
    const entries = await this.range(group, options?.limit)
    return entries.map(([id, fields]) => {
      const parsed = parseFields(fields)
      return { envelope: toEnvelope(id.toString("utf8"), parsed, group), failure: failureFromHeaders(parsed.headers, group) }
    })
  }

  async replay(group: string, options?: { readonly ids?: ReadonlyArray<string>; readonly limit?: number }): Promise<number> {
    const wanted = options?.ids ? new Set(options.ids) : undefined
    const entries = await this.range(group, wanted ? undefined : options?.limit)
    let ids = entries
      .filter(([, fields]) => !wanted || wanted.has(parseFields(fields).headers[Wire.id] ?? ""))
      .map(([id]) => id.toString("utf8"))
    if (options?.limit !== undefined) ids = ids.slice(0, Math.max(0, options.limit))
    const { cmd, keys } = this.ctx
    let n = 0
    for (let i = 0; i < ids.length; i += 500) {
      n += Number(await cmd.omnibusReplay(keys.deadLetters(group), keys.group(group), ...ids.slice(i, i + 500)))
    }
    return n
  }

  async purge(group: string): Promise<number> {
    if (!this.ctx.isOpen()) throw new BusClosed({ operation: "deadLetters" })
    const key = this.ctx.keys.deadLetters(group)
    const res = await this.ctx.cmd.multi().xlen(key).del(key).exec()
    return Number(res?.[0]?.[1] ?? 0)
  }
}
