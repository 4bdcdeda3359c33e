#!/usr/bin/env node
/**
 * CLI over generator.ts:
 *   node packages/protobuf/src/generate.ts <file.proto> <out.ts> [--prefix employee | --prefix Service=employee]
 *        [--method-case camel|snake|kebab] [--event employee.created=EmployeeMessage]... [--check]
 * --check writes nothing and exits 1 when <out.ts> is not what the .proto generates (for CI).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, relative, resolve, sep } from "node:path"
import { parseArgs } from "node:util"
import protobuf from "protobufjs"
import { generateModule, type EventSpec } from "./generator.ts"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    prefix: { type: "string", multiple: true },
    "method-case": { type: "string" },
    event: { type: "string", multiple: true },
    check: { type: "boolean", default: false },
  },
})

const usage = "usage: node generate.ts <file.proto> <out.ts> [--prefix p | --prefix Service=p] [--method-case camel|snake|kebab] [--event key=MessageType]... [--check]"
const [protoFile, outFile] = positionals
if (protoFile === undefined || outFile === undefined || positionals.length !== 2) {
  console.error(usage)
  process.exit(2)
}

const prefixes = values.prefix ?? []
const prefix: string | Record<string, string> | undefined =
  prefixes.length === 1 && !prefixes[0]!.includes("=")
    ? prefixes[0]!
    : prefixes.length === 0
      ? undefined
      : Object.fromEntries(prefixes.map((p) => {
          const [service, value] = p.split("=", 2)
          if (!service || !value) throw new Error(`--prefix ${p}: expected Service=prefix`)
          return [service, value]
        }))

const methodCase = values["method-case"] ?? "camel"
if (methodCase !== "camel" && methodCase !== "snake" && methodCase !== "kebab") {
  console.error(usage)
  process.exit(2)
}

const events: Array<EventSpec> = (values.event ?? []).map((e) => {
  const i = e.lastIndexOf("=")
  if (i <= 0) throw new Error(`--event ${e}: expected routing.key=MessageType`)
  return { key: e.slice(0, i), type: e.slice(i + 1) }
})

const protoPath = resolve(protoFile)
const outPath = resolve(outFile)
const fromOut = relative(dirname(outPath), protoPath).split(sep).join("/")
const text = generateModule({
  root: protobuf.loadSync(protoPath),
  protoPath: fromOut.startsWith(".") ? fromOut : `./${fromOut}`,
  sourceName: protoPath.split(sep).at(-1)!,
  prefix,
  methodCase,
  events,
})

if (values.check) {
  let current = ""
  try {
    current = readFileSync(outPath, "utf8")
  } catch {}
  if (current !== text) {
    console.error(`${outFile} is out of date with ${protoFile}: regenerate it`)
    process.exit(1)
  }
} else {
  writeFileSync(outPath, text)
  console.log(`wrote ${outFile}`)
}
