/**
 * Media types (RFC 6838 / RFC 9110 `type/subtype; name=value`) and the rule
 * that says whether a codec decodes a message of a given content type. Every
 * codec is judged here, so that foreign producers' spellings (parameters,
 * `+json` suffixes, deprecated aliases, no content type at all) are handled
 * the same way for each of them.
 */

export interface MediaType {
  /** "type/subtype", lowercase. */
  readonly essence: string
  /** The structured-syntax suffix without "+", lowercase ("json" for application/cloudevents+json). */
  readonly suffix: string | undefined
  /** Parameters, names lowercase (they are case-insensitive), values unquoted and as sent. */
  readonly params: ReadonlyMap<string, string>
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

/**
 * Content types parsed before: a consumer sees the same few on every message, so
 * each is parsed once (bounded: cleared when full, e.g. by foreign producers' variety).
 */
const parsedTypes = new Map<string, MediaType | undefined>()
const PARSED_TYPES_MAX = 256

/** Parses a content type; undefined when it is empty or not of the form type/subtype. */
export const parseMediaType = (contentType: string | undefined): MediaType | undefined => {
  if (contentType === undefined) return undefined
  const known = parsedTypes.get(contentType)
  if (known !== undefined || parsedTypes.has(contentType)) return known
  const parsed = parse(contentType)
  if (parsedTypes.size >= PARSED_TYPES_MAX) parsedTypes.clear()
  parsedTypes.set(contentType, parsed)
  return parsed
}

const parse = (contentType: string): MediaType | undefined => {
  const [head, ...rest] = contentType.split(";")
  const essence = head!.trim().toLowerCase()
  const slash = essence.indexOf("/")
  if (slash <= 0 || !TOKEN.test(essence.slice(0, slash)) || !TOKEN.test(essence.slice(slash + 1))) return undefined
  const subtype = essence.slice(slash + 1)
  const plus = subtype.lastIndexOf("+")
  const params = new Map<string, string>()
  for (const p of rest) {
    const i = p.indexOf("=")
    if (i > 0) params.set(p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim().replace(/^"(.*)"$/, "$1"))
  }
  return { essence, suffix: plus > 0 ? subtype.slice(plus + 1) : undefined, params }
}

/** What a codec decodes. */
export interface MediaTypeRule {
  /** Media types ("type/subtype", lowercase) it decodes, whatever their other parameters. */
  readonly types: ReadonlyArray<string>
  /** Structured-syntax suffixes it decodes, e.g. ["json"] for application/vnd.foo+json. */
  readonly suffixes?: ReadonlyArray<string>
  /**
   * Whether an untyped message is tried: no content type, or application/octet-stream
   * (what brokers and envelopes fall back to when the producer set none).
   */
  readonly untyped?: boolean
  /**
   * Parameter name (lowercase) -> the values it may have. A message that carries the
   * parameter with another value is refused (e.g. one declaring another protobuf message
   * type); one without it is not.
   */
  readonly params?: Readonly<Record<string, ReadonlyArray<string>>>
  /** Parameters of `params` a message must carry (default: none). */
  readonly required?: ReadonlyArray<string>
}

const UNTYPED = "application/octet-stream"

/**
 * The rule of a codec that declares none: its own media type, `+json` suffixes for a
 * JSON codec, and every parameter it names (but charset) must be carried with its value.
 */
export const ruleOf = (contentType: string): MediaTypeRule => {
  const own = parseMediaType(contentType)
  if (own === undefined) return { types: [contentType.trim().toLowerCase()] }
  const json = own.essence === "application/json" || own.suffix === "json"
  const params: Record<string, ReadonlyArray<string>> = {}
  for (const [k, v] of own.params) if (k !== "charset") params[k] = [v]
  return { types: [own.essence], ...(json ? { suffixes: ["json"] } : {}), params, required: Object.keys(params) }
}

/** Why a message of `contentType` is not for this rule, or undefined when it is. */
export const mediaTypeProblem = (rule: MediaTypeRule, contentType: string | undefined): string | undefined => {
  const trimmed = contentType?.trim() ?? ""
  if (trimmed === "") return rule.untyped === true ? undefined : "no content type"
  const got = parseMediaType(trimmed)
  if (got === undefined) return `content type ${JSON.stringify(trimmed)} is not a media type`
  const untyped = got.essence === UNTYPED && rule.untyped === true
  const typeFits = untyped || rule.types.includes(got.essence) || (got.suffix !== undefined && (rule.suffixes ?? []).includes(got.suffix))
  if (!typeFits) return `media type ${got.essence} is not decoded here`
  const params = rule.params ?? {}
  for (const name in params) {
    const allowed = params[name]!
    const value = got.params.get(name)
    if (value === undefined) {
      if (rule.required?.includes(name) === true) return `parameter ${name} is missing`
    } else if (!allowed.includes(value)) {
      return `declares ${name}=${value}`
    }
  }
  return undefined
}
