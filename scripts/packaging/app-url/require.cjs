// CommonJS users: require() of the ESM-only package (Node 22.12+ loads ES
// modules synchronously when they have no top-level await).
const core = require("@omnibus/core")
const missing = ["connect", "defineEvent", "defineRpc", "json", "PermanentError", "MemoryIdempotencyStore"].filter((name) => core[name] === undefined)
if (missing.length > 0) throw new Error(`require("@omnibus/core") lacks ${missing.join(", ")}`)
core.connect("memory://").then(async (bus) => {
  await bus.close()
  console.log(`ok require("@omnibus/core") (node ${process.version})`)
})
