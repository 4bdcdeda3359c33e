// Compiled and run on memory:// after the type-check: the declarations and the JavaScript agree.
import "@omnibus/memory"
import { runEffectApi } from "./effect-api.js"
import { runObservability } from "./observability.js"
import { runPromiseApi } from "./promise-api.js"

const url = process.env["OMNIBUS_URL"] ?? "memory://"
await runPromiseApi(url, "tsapp")
const name = await runEffectApi(url, "tseffect")
if (name !== "Ada") throw new Error(`effect program returned ${name}`)
await runObservability(url)
console.log("ok TypeScript consumer: contracts, Promise API, Effect API, testing helpers, middleware, OpenTelemetry")
