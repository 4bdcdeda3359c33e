/** Loads .proto schemas at runtime: from a file (what generated modules call) or from source text. */
import { fileURLToPath } from "node:url"
import protobuf from "protobufjs"

/** Parses a .proto file (path or file: URL) and resolves every type in it; throws on syntax errors or unknown types. */
export const loadProto = (file: string | URL): protobuf.Root => {
  const path = file instanceof URL ? fileURLToPath(file) : file
  const root = protobuf.loadSync(path)
  root.resolveAll()
  return root
}

/** Parses .proto source text and resolves every type in it: for schemas shipped inside a module, not beside it. */
export const parseProto = (source: string): protobuf.Root => {
  const root = protobuf.parse(source, { keepCase: false }).root
  root.resolveAll()
  return root
}
