/**
 * Payloads in and out: what `publish`, `request` and `serve` send (JSON by
 * default, text, raw bytes, or JSON encoded as protobuf), and how `tail`,
 * `dlq show` and `request` decode what they print.
 */
import { codecs, parseMediaType, type Codec } from "@omnibus/core"
import { loadProto, protobufCodec } from "@omnibus/protobuf"
import { UsageError } from "./errors.ts"
import type { Io } from "./io.ts"

/** A protobuf codec for `--proto file.proto --type pkg.Msg`, or undefined without them. */
export const protoCodec = (file: string | undefined, type: string | undefined): Codec<unknown> | undefined => {
  if (file === undefined && type === undefined) return undefined
  if (file === undefined || type === undefined) throw new UsageError("--proto and --type go together")
  let root: ReturnType<typeof loadProto>
  try {
    root = loadProto(file)
  } catch (e) {
    throw new UsageError(`cannot load ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }
  let found: Parameters<typeof protobufCodec>[0]
  try {
    found = root.lookupType(type)
  } catch {
    throw new UsageError(`${file} has no message type ${type}`)
  }
  return protobufCodec(found)
}

export interface PayloadFlags {
  readonly text?: boolean | undefined
  readonly raw?: boolean | undefined
  readonly proto?: Codec<unknown> | undefined
}

export interface Outgoing {
  readonly value: unknown
  readonly codec: Codec<unknown>
}

const parseJson = (source: string, what: string): unknown => {
  try {
    return JSON.parse(source) as unknown
  } catch (e) {
    throw new UsageError(`${what} is not JSON (use --text for plain text): ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** The payload argument (`-` or absent with --raw: standard input) as a value and the codec that sends it. */
export const outgoing = async (argument: string | undefined, flags: PayloadFlags, io: Io): Promise<Outgoing> => {
  if (flags.raw && flags.text) throw new UsageError("--raw and --text exclude each other")
  if (flags.raw) {
    if (argument !== undefined && argument !== "-") throw new UsageError("--raw reads the payload from standard input; pass - or nothing")
    return { value: await io.readStdin(), codec: codecs.bytes as Codec<unknown> }
  }
  const source = argument === "-" ? new TextDecoder().decode(await io.readStdin()) : argument
  if (flags.text) return { value: source ?? "", codec: codecs.text as Codec<unknown> }
  const value = source === undefined || source.trim() === "" ? null : parseJson(source, "the payload")
  return { value, codec: flags.proto ?? codecs.json }
}

/** A body as something printable: JSON, text, protobuf (with --proto) or base64 for anything else. */
export const decodeBody = (body: Uint8Array, contentType: string, proto: Codec<unknown> | undefined): unknown => {
  const media = parseMediaType(contentType)
  try {
    if (media !== undefined && (media.essence === "application/json" || media.suffix === "json")) return codecs.json.decode(body)
    if (media !== undefined && media.essence.startsWith("text/")) return codecs.text.decode(body)
    if (proto !== undefined) return proto.decode(body)
  } catch {
    // Undecodable as declared: shown as bytes below rather than hidden.
  }
  return { base64: Buffer.from(body).toString("base64") }
}
