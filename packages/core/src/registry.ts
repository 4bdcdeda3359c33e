/**
 * Broker selection from a URL: adapters register the schemes they serve.
 * When a scheme has no registered adapter yet, core imports the first-party
 * package that serves it, so `connect(process.env.OMNIBUS_URL)` switches
 * brokers by config alone (the package must be installed).
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { InvalidUrl, redactUrl } from "./errors.ts"
import type { AdapterFactory } from "./transport.ts"

const factories = new Map<string, AdapterFactory>()

const FIRST_PARTY: Readonly<Record<string, string>> = {
  memory: "@omnibus/memory",
  amqp: "@omnibus/rabbitmq",
  amqps: "@omnibus/rabbitmq",
  nats: "@omnibus/nats",
  tls: "@omnibus/nats",
  kafka: "@omnibus/kafka",
  redis: "@omnibus/redis",
  rediss: "@omnibus/redis",
}

export const registerAdapter = (factory: AdapterFactory): void => {
  for (const s of factory.schemes) factories.set(s.replace(/:$/, "").toLowerCase(), factory)
}

export const schemeOf = (url: string): string => {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url)
  if (!m) throw new InvalidUrl({ url: redactUrl(url), reason: "has no scheme (expected e.g. memory://, amqp://, nats://, kafka://, redis://)" })
  return m[1]!.toLowerCase()
}

export const resolveAdapter = (url: string): Promise<AdapterFactory> => resolveAdapterFrom(url, FIRST_PARTY)

/**
 * `resolveAdapter` with the scheme → package table as a parameter, so a test
 * can name a package that is not installed (every first-party one is, in the
 * workspace). Not exported from the package's entry points.
 */
export const resolveAdapterFrom = async (url: string, firstParty: Readonly<Record<string, string>>): Promise<AdapterFactory> => {
  const scheme = schemeOf(url)
  const known = factories.get(scheme)
  if (known) return known
  const pkg = firstParty[scheme]
  if (pkg === undefined) {
    throw new InvalidUrl({ url: redactUrl(url), reason: `no adapter for scheme "${scheme}:" (registered: ${[...factories.keys(), ...Object.keys(firstParty)].filter((v, i, a) => a.indexOf(v) === i).join(", ")})` })
  }
  try {
    await importFromApp(pkg)
  } catch (e) {
    throw new InvalidUrl({ url: redactUrl(url), reason: `${needsPackage(scheme, pkg)} (${briefly(e)})` })
  }
  const loaded = factories.get(scheme)
  if (!loaded) throw new InvalidUrl({ url: redactUrl(url), reason: `${pkg} did not register scheme "${scheme}:"` })
  return loaded
}

/** What to do when a scheme's package is missing; bundles need the static import (they cannot follow a dynamic import by name). */
const needsPackage = (scheme: string, pkg: string): string =>
  `scheme "${scheme}:" needs ${pkg}: npm install ${pkg} (or import "${pkg}" once, e.g. in bundles)`

/** The first line of an import failure, capped: enough to see why, short enough to keep the advice readable. */
const briefly = (e: unknown): string => {
  const line = (e instanceof Error ? e.message : String(e)).split("\n", 1)[0]!
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}

/**
 * Imports an adapter package as the application would: resolved from the
 * working directory (the app's node_modules), since core itself does not
 * depend on any adapter.
 */
const importFromApp = async (pkg: string): Promise<unknown> => {
  try {
    return await import(pkg)
  } catch (first) {
    // The app's entry script and the working directory are where the app's node_modules are.
    const bases = [process.argv[1], join(process.cwd(), "package.json")].filter((b): b is string => typeof b === "string" && b.length > 0)
    for (const base of bases) {
      try {
        return await import(pathToFileURL(createRequire(base).resolve(pkg)).href)
      } catch {
        // try the next base
      }
    }
    throw first
  }
}
