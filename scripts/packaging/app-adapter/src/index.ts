// An adapter written only against @omnibus/core/adapter: it serves `counting://<name>`
// with the memory transport of broker <name> and counts the calls of each Transport method.
import { registerAdapter, simulateCrash, type AdapterFactory, type Crashable, type Transport } from "@omnibus/core/adapter"
import { memoryAdapter } from "@omnibus/memory"

export const calls = new Map<string, number>()

const count = (method: string): void => { calls.set(method, (calls.get(method) ?? 0) + 1) }

const counting = (inner: Transport & Partial<Crashable>): Transport & Crashable => ({
  name: "counting",
  limits: inner.limits,
  publish: (batch) => { count("publish"); return inner.publish(batch) },
  consume: (spec, onDelivery) => { count("consume"); return inner.consume(spec, onDelivery) },
  declareGroup: (spec) => { count("declareGroup"); return inner.declareGroup(spec) },
  serve: (spec, onRequest) => { count("serve"); return inner.serve(spec, onRequest) },
  request: (request, options) => { count("request"); return inner.request(request, options) },
  deadLetters: inner.deadLetters,
  health: () => { count("health"); return inner.health() },
  close: () => { count("close"); return inner.close() },
  // crash(bus) in tests: not part of the port, an adapter offers it under this key
  [simulateCrash]: () => { count("crash"); return inner[simulateCrash]!() },
})

export const countingAdapter: AdapterFactory = {
  name: "counting",
  schemes: ["counting"],
  create: async (url, options) => counting(await memoryAdapter.create(url.replace(/^counting:/i, "memory:"), options)),
}

registerAdapter(countingAdapter)
