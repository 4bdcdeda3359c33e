/**
 * AMQP topic semantics, the one reference every adapter is tested against.
 * Words are separated by ".", "*" matches exactly one word, "#" zero or more.
 * Word characters are restricted to what every broker can carry in a subject,
 * topic header or stream name without escaping (letters, digits, _ - : + @ $).
 */
import { InvalidPattern, InvalidRoutingKey } from "./errors.ts"
import { MAX_KEY_BYTES } from "./wire.ts"

const WORD = /^[\p{L}\p{N}_\-:+@$]+$/u

const checkShape = (text: string): string | undefined => {
  if (text.length === 0) return "is empty"
  if (Buffer.byteLength(text, "utf8") > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`
  if (/\s/u.test(text)) return "contains whitespace"
  return undefined
}

/** Returns the reason a publish key is invalid, or undefined. */
export const routingKeyProblem = (key: string): string | undefined => {
  const shape = checkShape(key)
  if (shape) return shape
  for (const word of key.split(".")) {
    if (word.length === 0) return "has an empty word"
    if (word.includes("*") || word.includes("#")) return "contains a wildcard (only patterns may)"
    if (!WORD.test(word)) return `word ${JSON.stringify(word)} has characters outside [letters digits _ - : + @ $]`
  }
  return undefined
}

/** Returns the reason a subscription pattern is invalid, or undefined. */
export const patternProblem = (pattern: string): string | undefined => {
  const shape = checkShape(pattern)
  if (shape) return shape
  for (const word of pattern.split(".")) {
    if (word.length === 0) return "has an empty word"
    if (word === "*" || word === "#") continue
    if (word.includes("*") || word.includes("#")) return `wildcard in ${JSON.stringify(word)} must be a whole word`
    if (!WORD.test(word)) return `word ${JSON.stringify(word)} has characters outside [letters digits _ - : + @ $]`
  }
  return undefined
}

export const validateRoutingKey = (key: string): InvalidRoutingKey | undefined => {
  const reason = typeof key === "string" ? routingKeyProblem(key) : "is not a string"
  return reason === undefined ? undefined : new InvalidRoutingKey({ key: String(key), reason })
}

export const validatePattern = (pattern: string): InvalidPattern | undefined => {
  const reason = typeof pattern === "string" ? patternProblem(pattern) : "is not a string"
  return reason === undefined ? undefined : new InvalidPattern({ pattern: String(pattern), reason })
}

/**
 * Does `key` match `pattern`? Dynamic programming over words: O(p·k),
 * no regex, no backtracking blow-up on many "#".
 */
export const matches = (pattern: string, key: string): boolean => {
  const p = pattern.split(".")
  const k = key.split(".")
  // reach[j]: the first i pattern words can consume exactly the first j key words
  let reach = new Array<boolean>(k.length + 1).fill(false)
  reach[0] = true
  for (const word of p) {
    const next = new Array<boolean>(k.length + 1).fill(false)
    if (word === "#") {
      let any = false
      for (let j = 0; j <= k.length; j++) {
        any = any || reach[j]!
        next[j] = any
      }
    } else {
      for (let j = 1; j <= k.length; j++) {
        next[j] = reach[j - 1]! && (word === "*" || word === k[j - 1])
      }
    }
    reach = next
  }
  return reach[k.length]!
}

/** A compiled set of patterns: does any of them match? */
export const matchesAny = (patterns: ReadonlyArray<string>, key: string): boolean =>
  patterns.some((p) => matches(p, key))

/** The literal prefix of a pattern (words before the first wildcard). */
export const literalPrefix = (pattern: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const w of pattern.split(".")) {
    if (w === "*" || w === "#") break
    out.push(w)
  }
  return out
}
