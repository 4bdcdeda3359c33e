/** Child-process entry points of the fault suite, as shipped: .ts in the workspace, .js in dist/. */
import { fileURLToPath } from "node:url"

export const siblingModule = (importMetaUrl: string, name: string): string =>
  fileURLToPath(new URL(`./${name}${importMetaUrl.endsWith(".ts") ? ".ts" : ".js"}`, importMetaUrl))
