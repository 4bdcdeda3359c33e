/**
 * Turns a parsed .proto into a TypeScript module: an interface per message
 * (field names as protobufjs produces them), a codec per message, and core
 * contracts (defineRpc per service method, defineEvent for the events you
 * name). The module loads the .proto at runtime, so the schema stays the one
 * source of truth and the generated file is only types plus wiring.
 * Output is deterministic: regenerating an unchanged .proto gives the same text.
 */
import protobuf from "protobufjs"

export interface EventSpec {
  /** Routing key, e.g. "employee.created". */
  readonly key: string
  /** Message type name as in the .proto, e.g. "EmployeeMessage" or "pkg.Outer.Inner". */
  readonly type: string
}

export interface GenerateOptions {
  readonly root: protobuf.Root
  /** The .proto file, as the generated module should load it: relative to the generated file, with "/" separators. */
  readonly protoPath: string
  /** Shown in the header so readers know where the module came from. */
  readonly sourceName: string
  /**
   * First word(s) of the RPC method names: a string when there is one service,
   * or per service name. Default: the service's name without "Service", snake_case.
   */
  readonly prefix?: string | Readonly<Record<string, string>>
  /** How a method name becomes the last word: "search" (camel, default), "find_by_name" (snake) or "find-by-name" (kebab). */
  readonly methodCase?: "camel" | "snake" | "kebab"
  readonly events?: ReadonlyArray<EventSpec>
  /** Where defineRpc/defineEvent and the codec come from (defaults: the published packages). */
  readonly coreImport?: string
  readonly protobufImport?: string
}

const LONGS = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"])
const NUMBERS = new Set(["double", "float", "int32", "uint32", "sint32", "fixed32", "sfixed32"])

const words = (name: string): Array<string> =>
  name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2").split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0).map((w) => w.toLowerCase())

const camel = (name: string): string => words(name).map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join("")

const cased = (name: string, style: "camel" | "snake" | "kebab"): string =>
  style === "camel" ? camel(name) : words(name).join(style === "snake" ? "_" : "-")

const allOf = <T extends protobuf.ReflectionObject>(ns: protobuf.NamespaceBase, ctor: abstract new (...args: never) => T): Array<T> => {
  const out: Array<T> = []
  const walk = (n: protobuf.NamespaceBase): void => {
    for (const child of n.nestedArray) {
      if (child instanceof ctor) out.push(child)
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type || child instanceof protobuf.Service) walk(child)
    }
  }
  walk(ns)
  return out
}

/** TS name of a type: its path below the package, nested types joined by "_" (pkg.Outer.Inner → Outer_Inner). */
const tsName = (t: protobuf.ReflectionObject): string => {
  const parts: Array<string> = []
  for (let o: protobuf.ReflectionObject | null = t; o !== null && (o instanceof protobuf.Type || o instanceof protobuf.Enum); o = o.parent) parts.unshift(o.name)
  return parts.join("_")
}

const protoName = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, "")

const fieldType = (field: protobuf.FieldBase): string => {
  const resolved = field.resolvedType
  if (resolved !== null) return tsName(resolved)
  if (field.type === "string") return "string"
  if (field.type === "bool") return "boolean"
  if (field.type === "bytes") return "Uint8Array"
  if (LONGS.has(field.type)) return "bigint"
  if (NUMBERS.has(field.type)) return "number"
  throw new Error(`field ${field.fullName}: unsupported type ${field.type}`)
}

const propertyName = (name: string): string => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name))

const comment = (text: string | null | undefined, indent: string): Array<string> =>
  text ? [`${indent}/** ${text.replace(/\*\//g, "*\\/").split("\n").join(`\n${indent} * `)} */`] : []

const messageInterface = (type: protobuf.Type): Array<string> => {
  const lines = [...comment(type.comment, ""), `export interface ${tsName(type)} {`]
  for (const field of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const base = fieldType(field)
    let ts: string
    let optional: boolean
    if (field.map) {
      ts = `Readonly<Record<string, ${base}>>`
      optional = false // protobufjs decodes an absent map as {}
    } else if (field.repeated) {
      ts = `ReadonlyArray<${base}>`
      optional = false // absent repeated fields decode as []
    } else {
      ts = base
      optional = !field.required // absent on the wire = absent in the object
    }
    lines.push(...comment(field.comment, "  "), `  readonly ${propertyName(field.name)}${optional ? "?" : ""}: ${ts}`)
  }
  lines.push("}")
  return lines
}

const enumType = (e: protobuf.Enum): Array<string> => [
  ...comment(e.comment, ""),
  `export type ${tsName(e)} = ${Object.keys(e.values).map((k) => JSON.stringify(k)).join(" | ") || "never"}`,
]

const prefixFor = (service: protobuf.Service, prefix: GenerateOptions["prefix"], count: number): string => {
  if (typeof prefix === "string") {
    if (count > 1) throw new Error(`the .proto has ${count} services: give the prefix per service (Service=prefix)`)
    return prefix
  }
  return prefix?.[service.name] ?? prefix?.[protoName(service)] ?? words(service.name.replace(/Service$/, "")).join("_")
}

export const generateModule = (options: GenerateOptions): string => {
  const { root } = options
  root.resolveAll()
  const types = allOf(root, protobuf.Type).filter((t) => !t.name.endsWith("Entry") || !t.options?.["map_entry"])
  const enums = allOf(root, protobuf.Enum)
  const services = allOf(root, protobuf.Service)
  const methodCase = options.methodCase ?? "camel"

  const names = new Map<string, string>()
  for (const t of [...types, ...enums]) {
    const n = tsName(t)
    const other = names.get(n)
    if (other !== undefined) throw new Error(`${protoName(t)} and ${other} would both be named ${n}`)
    names.set(n, protoName(t))
  }

  const out: Array<string> = [
    `// Generated by @omnibus/protobuf from ${options.sourceName}. Do not edit: change the .proto and regenerate`,
    `// (packages/protobuf/src/generate.ts); a test fails when this file and the .proto disagree.`,
    `import { ${[
      ...(options.events !== undefined && options.events.length > 0 ? ["defineEvent"] : []),
      ...(services.length > 0 ? ["defineRpc"] : []),
      "type Codec",
    ].join(", ")} } from ${JSON.stringify(options.coreImport ?? "@omnibus/core")}`,
    `import { loadProto, protobufCodec } from ${JSON.stringify(options.protobufImport ?? "@omnibus/protobuf")}`,
    "",
  ]
  for (const e of enums) out.push(...enumType(e), "")
  for (const t of types) out.push(...messageInterface(t), "")

  out.push(`const root = loadProto(new URL(${JSON.stringify(options.protoPath)}, import.meta.url))`, "")
  for (const t of types) {
    out.push(`export const ${tsName(t)}Codec: Codec<${tsName(t)}> = protobufCodec(root.lookupType(${JSON.stringify(protoName(t))}))`)
  }

  for (const service of services) {
    const prefix = prefixFor(service, options.prefix, services.length)
    out.push("", ...comment(service.comment ?? `Methods of ${protoName(service)}.`, ""), `export const ${service.name} = {`)
    for (const method of service.methodsArray) {
      if (method.requestStream === true || method.responseStream === true) throw new Error(`${protoName(method)}: streaming methods have no Omnibus RPC equivalent`)
      const req = tsName(method.resolvedRequestType!)
      const res = tsName(method.resolvedResponseType!)
      const name = `${prefix}.${cased(method.name, methodCase)}`
      out.push(
        ...comment(method.comment, "  "),
        `  ${propertyName(camel(method.name))}: defineRpc(${JSON.stringify(name)}, ${req}Codec, ${res}Codec),`,
      )
    }
    out.push("} as const")
  }

  if (options.events !== undefined && options.events.length > 0) {
    out.push("", "/** Events carrying messages of this .proto. */", "export const events = {")
    for (const ev of options.events) {
      const type = root.lookupType(ev.type)
      out.push(`  ${propertyName(camel(ev.key))}: defineEvent(${JSON.stringify(ev.key)}, ${tsName(type)}Codec),`)
    }
    out.push("} as const")
  }
  return `${out.join("\n")}\n`
}
