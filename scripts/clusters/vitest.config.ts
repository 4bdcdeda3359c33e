// The cluster tests only (scripts/clusters/test.sh): the root config leaves them out of `npm test`.
import { fileURLToPath } from "node:url"
import { configDefaults, defineConfig } from "vitest/config"
import base from "../../vitest.config.ts"

export default defineConfig({
  ...base,
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    ...base.test,
    include: ["adapters/*/test/clusters.test.ts"],
    exclude: [...configDefaults.exclude],
    testTimeout: 300_000,
  },
})
