import { configDefaults, defineConfig } from "vitest/config"

// Tests run the workspace packages from source: every package exports its
// src/*.ts under the "@omnibus/source" condition (dist/ is what users get).
// The scripts pass the same condition to Node (scripts/env.sh).
const conditions = ["@omnibus/source", "module", "node", "development|production"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@omnibus/source", "node"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "adapters/*/test/**/*.test.ts", "conformance/test/**/*.test.ts", "examples/**/test/**/*.test.ts"],
    // need the three-node clusters: `npm run test:clusters` (scripts/clusters/test.sh)
    exclude: [...configDefaults.exclude, "adapters/*/test/clusters.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
