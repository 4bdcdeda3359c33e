/**
 * An AsyncAPI 3.0 document from typed contracts (defineEvent / defineRpc in
 * @omnibus/core): each event is a channel addressed by its routing key with a
 * send and a receive operation; each RPC method is a request channel and a
 * reply channel, with a send operation (the requester) and a receive
 * operation (the server) that both carry a `reply`. Payloads are the codecs'
 * JSON Schemas (Codec.jsonSchema: effect Schema, protobuf descriptors), their
 * named definitions gathered under components.schemas.
 */
import { isEventContract, isRpcContract, type Codec, type EventContract, type JsonSchema, type RpcContract } from "@omnibus/core"

export type Contract = EventContract<unknown> | RpcContract<unknown, unknown>

export interface AsyncApiInfo {
  readonly title: string
  readonly version: string
  readonly description?: string
}

/** The contracts among a module's exports, also inside exported plain objects (e.g. a generated service's methods), in export order. */
export const contractsOf = (exports: Readonly<Record<string, unknown>>): ReadonlyArray<Contract> => {
  const found: Array<Contract> = []
  const seen = new Set<unknown>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value !== "object" || value === null || seen.has(value)) return
    seen.add(value)
    if (isEventContract(value) || isRpcContract(value)) {
      found.push(value)
      return
    }
    // Plain objects only: a class instance (a bus, a codec) holds no contracts worth walking.
    const proto = Object.getPrototypeOf(value) as unknown
    if (depth < 3 && (proto === Object.prototype || proto === null)) for (const v of Object.values(value)) visit(v, depth + 1)
  }
  for (const v of Object.values(exports)) visit(v, 0)
  return found
}

/** AsyncAPI component and channel ids allow letters, digits, ".", "-" and "_"; routing-key words allow more. */
const idOf = (name: string): string => name.replace(/[^A-Za-z0-9._-]/g, "_")

/** A JSON pointer segment ("/" and "~" escaped, RFC 6901). */
const pointer = (segment: string): string => segment.replaceAll("~", "~0").replaceAll("/", "~1")

/** Allocates ids unique within one map: the wanted id, else the id with a numeric suffix. */
const allocator = () => {
  const taken = new Set<string>()
  return (wanted: string): string => {
    let id = wanted
    for (let n = 2; taken.has(id); n++) id = `${wanted}_${n}`
    taken.add(id)
    return id
  }
}

/** Rewrites `#/definitions/<name>` references through `rename`, everywhere in a schema. */
const rewriteRefs = (node: unknown, rename: (name: string) => string): unknown => {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, rename))
  if (typeof node !== "object" || node === null) return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#/definitions/") ? `#/components/schemas/${pointer(rename(decodeURIComponent(v.slice("#/definitions/".length))))}` : rewriteRefs(v, rename)
  }
  return out
}

export const asyncApiDocument = (contracts: ReadonlyArray<Contract>, info: AsyncApiInfo): Readonly<Record<string, unknown>> => {
  const schemas: Record<string, JsonSchema> = {}
  const messages: Record<string, unknown> = {}
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  const [channelId, messageId, operationId, schemaId] = [allocator(), allocator(), allocator(), allocator()]
  /** Definitions already placed, by their name in a codec: the same name and text are one schema. */
  const placed = new Map<string, Array<{ readonly text: string; readonly id: string }>>()

  /** The codec's payload schema, its definitions added to components.schemas. */
  const payloadOf = (codec: Codec<unknown>): unknown => {
    if (codec.jsonSchema === undefined) return undefined
    const { schema, definitions } = codec.jsonSchema()
    const local = new Map<string, string>()
    const fresh: Array<readonly [string, JsonSchema]> = []
    for (const [name, definition] of Object.entries(definitions)) {
      const text = JSON.stringify(definition)
      const same = placed.get(name)?.find((p) => p.text === text)
      const id = same?.id ?? schemaId(idOf(name))
      local.set(name, id)
      if (same === undefined) {
        placed.set(name, [...(placed.get(name) ?? []), { text, id }])
        fresh.push([id, definition])
      }
    }
    const rename = (n: string) => local.get(n) ?? idOf(n)
    for (const [id, definition] of fresh) schemas[id] = rewriteRefs(definition, rename) as JsonSchema
    return rewriteRefs(schema, rename)
  }

  const message = (id: string, name: string, codec: Codec<unknown>, summary: string): string => {
    const payload = payloadOf(codec)
    messages[id] = {
      name,
      contentType: codec.contentType,
      summary,
      ...(payload !== undefined ? { payload } : { description: "The codec does not describe its payload (no jsonSchema)." }),
    }
    return id
  }

  const channel = (id: string, address: string | null, description: string, entries: Record<string, string>): void => {
    channels[id] = {
      address,
      description,
      messages: Object.fromEntries(Object.entries(entries).map(([key, mid]) => [key, { $ref: `#/components/messages/${pointer(mid)}` }])),
    }
  }

  const refs = (cid: string, key: string) => ({
    channel: { $ref: `#/channels/${pointer(cid)}` },
    messages: [{ $ref: `#/channels/${pointer(cid)}/messages/${pointer(key)}` }],
  })

  for (const c of contracts) {
    if (c._tag === "EventContract") {
      const cid = channelId(idOf(c.key))
      const mid = message(messageId(idOf(c.key)), c.key, c.codec, `Event ${c.key}`)
      channel(cid, c.key, `Events published under the routing key ${c.key}. Each subscribing group gets its own copy; the consumers of one group compete for it.`, { [mid]: mid })
      operations[operationId(idOf(`${c.key}.publish`))] = { action: "send", summary: `Publish ${c.key}`, ...refs(cid, mid) }
      operations[operationId(idOf(`${c.key}.subscribe`))] = { action: "receive", summary: `Subscribe to ${c.key}`, ...refs(cid, mid) }
    } else {
      const requests = channelId(idOf(c.method))
      const replies = channelId(idOf(`${c.method}.reply`))
      const requestMessage = message(messageId(idOf(`${c.method}.request`)), `${c.method} request`, c.request, `Request of ${c.method}`)
      const replyMessage = message(messageId(idOf(`${c.method}.reply`)), `${c.method} reply`, c.response, `Reply of ${c.method}`)
      channel(requests, c.method, `Requests of the RPC method ${c.method}. The servers of one group share them.`, { request: requestMessage })
      channel(replies, null, `Replies of ${c.method}, sent to the requester's own reply destination (the adapter's; matched by correlation id).`, { reply: replyMessage })
      const reply = { channel: { $ref: `#/channels/${pointer(replies)}` }, messages: [{ $ref: `#/channels/${pointer(replies)}/messages/reply` }] }
      operations[operationId(idOf(`${c.method}.request`))] = { action: "send", summary: `Call ${c.method}`, ...refs(requests, "request"), reply }
      operations[operationId(idOf(`${c.method}.handle`))] = { action: "receive", summary: `Serve ${c.method}`, ...refs(requests, "request"), reply }
    }
  }

  return {
    asyncapi: "3.0.0",
    info: { title: info.title, version: info.version, ...(info.description !== undefined ? { description: info.description } : {}) },
    defaultContentType: "application/json",
    channels,
    operations,
    components: { messages, schemas },
  }
}
