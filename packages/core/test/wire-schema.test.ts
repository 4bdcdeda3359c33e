/**
 * Every name on the wire is defined once, in packages/core/src/wire.ts: this
 * scans the string literals (template literals' text included, comments
 * skipped) of every adapter's source and fails on a literal that holds the
 * reserved prefix or spells a schema name, so an adapter that defines a header
 * of its own cannot land.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { AdapterHeaders, CloudEventsWire, RESERVED_PREFIX, Wire } from "../src/wire.ts"

interface Literal {
  readonly text: string
  readonly line: number
  /** Text of a template literal (between its substitutions), which may embed Lua or JSON. */
  readonly template: boolean
}

/** After these a "/" starts a regular expression, not a division. */
const BEFORE_REGEX = new Set(["", "(", ",", "=", ":", "[", "!", "&", "|", "?", "{", "}", ";", "+", "-", "*", "%", "<", ">", "~", "^", "return", "typeof", "case", "in", "of", "void", "yield", "await", "else"])

/** The string and template literals of a TypeScript source, comments and regular expressions skipped. */
export const literalsOf = (src: string): Array<Literal> => {
  const out: Array<Literal> = []
  let i = 0
  let line = 1
  let prev = ""
  let depth = 0
  /** Brace depth at which each open template substitution `${` closes. */
  const substitutions: Array<number> = []
  const advance = (): string => {
    const c = src[i++]!
    if (c === "\n") line++
    return c
  }
  const template = (): void => {
    let text = ""
    const start = line
    while (i < src.length) {
      const c = advance()
      if (c === "\\") text += c + advance()
      else if (c === "`") break
      else if (c === "$" && src[i] === "{") {
        i++
        substitutions.push(depth)
        depth++
        out.push({ text, line: start, template: true })
        return
      } else text += c
    }
    out.push({ text, line: start, template: true })
    prev = "a"
  }
  while (i < src.length) {
    const c = src[i]!
    if (/\s/.test(c)) advance()
    else if (c === "/" && src[i + 1] === "/") while (i < src.length && src[i] !== "\n") i++
    else if (c === "/" && src[i + 1] === "*") {
      i += 2
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) advance()
      i += 2
    } else if (c === "'" || c === '"') {
      advance()
      let text = ""
      const start = line
      while (i < src.length && src[i] !== c) text += src[i] === "\\" ? advance() + advance() : advance()
      advance()
      out.push({ text, line: start, template: false })
      prev = "a"
    } else if (c === "`") {
      advance()
      template()
    } else if (c === "}" && substitutions.length > 0 && substitutions.at(-1) === depth - 1) {
      advance()
      depth--
      substitutions.pop()
      template()
    } else if (c === "/" && BEFORE_REGEX.has(prev)) {
      advance()
      let inClass = false
      while (i < src.length) {
        const r = advance()
        if (r === "\\") advance()
        else if (r === "[") inClass = true
        else if (r === "]") inClass = false
        else if (r === "/" && !inClass) break
      }
      while (/[a-z]/i.test(src[i] ?? "")) i++
      prev = "a"
    } else if (/[A-Za-z0-9_$]/.test(c)) {
      let word = ""
      while (i < src.length && /[A-Za-z0-9_$]/.test(src[i]!)) word += advance()
      prev = word
    } else {
      if (c === "{") depth++
      if (c === "}") depth--
      prev = advance()
    }
  }
  return out
}

/** Every name the schema puts on the wire but those starting with the reserved prefix (found by it). */
const SCHEMA_NAMES: ReadonlySet<string> = new Set(
  [
    ...Object.values(Wire),
    ...Object.values(AdapterHeaders).flatMap((names) => Object.values(names)),
    ...Object.values(CloudEventsWire.prefix),
    CloudEventsWire.amqpColonPrefix,
    ...[...Object.values(CloudEventsWire.prefix), CloudEventsWire.amqpColonPrefix].flatMap((p) => Object.values(CloudEventsWire.attributes).map((a) => p + a)),
  ].filter((n) => !n.startsWith(RESERVED_PREFIX)),
)

/** Why a literal defines a wire name of its own, or undefined. */
const violation = (l: Literal): string | undefined => {
  if (l.text.includes(RESERVED_PREFIX)) return `holds the reserved prefix ${RESERVED_PREFIX}`
  if (SCHEMA_NAMES.has(l.text)) return `spells the schema name ${JSON.stringify(l.text)}`
  if (l.template) for (const n of SCHEMA_NAMES) if (l.text.includes(`'${n}'`) || l.text.includes(`"${n}"`)) return `quotes the schema name ${JSON.stringify(n)}`
  return undefined
}

export const violationsIn = (src: string): Array<string> =>
  literalsOf(src).flatMap((l) => {
    const why = violation(l)
    return why === undefined ? [] : [`line ${l.line}: ${JSON.stringify(l.text.slice(0, 80))} ${why}`]
  })

const ROOT = fileURLToPath(new URL("../../..", import.meta.url))

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith(".ts") ? [path] : []
  })

/** The source of every adapter. */
const scanned = (): Array<string> =>
  readdirSync(join(ROOT, "adapters"))
    .map((a) => join(ROOT, "adapters", a, "src"))
    .filter((d) => statSync(d, { throwIfNoEntry: false })?.isDirectory())
    .flatMap(sourceFiles)

describe("the literal scanner", () => {
  it("finds strings and template text, and skips comments and regular expressions", () => {
    const src = [
      "// \"x-omnibus-in-a-comment\"",
      "/* 'x-omnibus-block' */",
      "const re = /[\"'`]x/g, n = a / b / c",
      "const s = 'one', t = \"two\"",
      "const u = `three ${f({ k: `four` })} five ${'six'}`",
    ].join("\n")
    expect(literalsOf(src).map((l) => l.text)).toEqual(["one", "two", "three ", "four", " five ", "six", ""])
    expect(literalsOf(src).map((l) => l.line)).toEqual([4, 4, 5, 5, 5, 5, 5])
  })

  it("flags a header name defined outside the schema, however it is written", () => {
    expect(violationsIn(`export const DUE = "x-omnibus-due-at"`)).toHaveLength(1)
    expect(violationsIn("const lua = `local t = { ['x-omnibus-attempt'] = true }`")).toHaveLength(1)
    expect(violationsIn("const lua = `redis.call('HDEL', k, 'omnibus-retry-due')`")).toHaveLength(1)
    expect(violationsIn(`h["omnibus-dropped-headers"] = list`)).toHaveLength(1)
    expect(violationsIn(`out["ce_type"] = e.routingKey`)).toHaveLength(1)
    expect(violationsIn(`// the x-omnibus-id header\nconst id = headers[Wire.id]`)).toEqual([])
  })
})

describe("the wire schema", () => {
  it("is the only place that names a header: no adapter source defines one", () => {
    const files = scanned()
    expect(files.length).toBeGreaterThan(40)
    const found = files.flatMap((f) => violationsIn(readFileSync(f, "utf8")).map((v) => `${relative(ROOT, f)} ${v}`))
    expect(found).toEqual([])
  })

  it("has no name twice", () => {
    const names = [...Object.values(Wire), ...Object.values(AdapterHeaders).flatMap((n) => Object.values(n))]
    expect(new Set(names).size).toBe(names.length)
  })
})
