/** Loads .proto files at runtime (what generated modules call). */
import { fileURLToPath } from "node:url"
import protobuf from "protobufjs"

/** Parses a .proto file (path or file: URL) and resolves every type in it; throws on syntax errors or unknown types. */
export const loadProto = (file: string | URL): protobuf.Root => {
  const path = file instanceof URL ? fileURLToPath(file) : file
  const root = protobuf.loadSync(path)
  root.resolveAll()
  return root
}
