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

/**
 * A routing key both patterns match, or undefined when no key does. Search over
 * pairs of positions (i in a, j in b): "#" may end (move on without a word) or
 * take a word and stay; "*" and a literal take one word, two literals only
 * the same one. Adapters use it to decide which broker objects (topics,
 * filter subjects) a subscription must read.
 */
export const overlapWitness = (a: string, b: string): string | undefined => {
  const p = a.split(".")
  const q = b.split(".")
  // state = ((i * (q.length + 1)) + j) * 2 + (1 once a word was taken: a key has at least one)
  const width = q.length + 1
  const seen = new Map<number, { readonly from: number; readonly word: string | undefined }>()
  const queue: Array<number> = [0]
  seen.set(0, { from: -1, word: undefined })
  const visit = (i: number, j: number, taken: number, from: number, word: string | undefined) => {
    const state = (i * width + j) * 2 + taken
    if (seen.has(state)) return
    seen.set(state, { from, word })
    queue.push(state)
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]!
    const taken = state % 2
    const i = Math.floor(state / 2 / width)
    const j = Math.floor(state / 2) % width
    if (i === p.length && j === q.length && taken === 1) {
      const words: Array<string> = []
      for (let s = state; s > 0; s = seen.get(s)!.from) {
        const w = seen.get(s)!.word
        if (w !== undefined) words.push(w)
      }
      return words.reverse().join(".")
    }
    const x = p[i]
    const y = q[j]
    if (x === "#") visit(i + 1, j, taken, state, undefined)
    if (y === "#") visit(i, j + 1, taken, state, undefined)
    if (x === undefined || y === undefined) continue
    const xLiteral = x !== "#" && x !== "*"
    const yLiteral = y !== "#" && y !== "*"
    if (xLiteral && yLiteral && x !== y) continue
    visit(x === "#" ? i : i + 1, y === "#" ? j : j + 1, 1, state, xLiteral ? x : yLiteral ? y : "x")
  }
  return undefined
}

/** Does some routing key match both patterns? */
export const patternsOverlap = (a: string, b: string): boolean => overlapWitness(a, b) !== undefined

/**
 * Does every key `inner` matches also match `outer`? Sound, not complete: true
 * only when each word of `inner` lines up with `outer` ("#" only under "#",
 * "*" under "*" or "#", a literal under itself, "*" or "#"), so a false answer
 * may be a cover this check does not see (e.g. "*.#" under "#.*"); callers use it
 * to leave something out, and leave it in when unsure.
 */
export const patternCovers = (outer: string, inner: string): boolean => {
  const o = outer.split(".")
  const n = inner.split(".")
  // reach[i]: the first i words of outer can line up with the inner words read so far
  let reach = new Array<boolean>(o.length + 1).fill(false)
  reach[0] = true
  const closeOverHash = (r: Array<boolean>) => {
    for (let i = 0; i < o.length; i++) if (r[i] && o[i] === "#") r[i + 1] = true
  }
  closeOverHash(reach)
  for (const w of n) {
    const next = new Array<boolean>(o.length + 1).fill(false)
    for (let i = 0; i < o.length; i++) {
      if (!reach[i]) continue
      const u = o[i]!
      if (u === "#") next[i] = true
      else if (w !== "#" && (u === "*" || (w !== "*" && u === w))) next[i + 1] = true
    }
    closeOverHash(next)
    reach = next
  }
  return reach[o.length]!
}
