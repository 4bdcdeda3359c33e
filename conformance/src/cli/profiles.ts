/**
 * What the conformance CLI knows of each first-party broker, by URL scheme:
 * the adapter package to load, how to count a group's broker objects (case 5),
 * the lease and timing the adapter's own conformance run uses, and whether the
 * broker deduplicates publishes (case 22). The same settings as
 * adapters/<name>/test/conformance.test.ts, so a run of the CLI and the
 * project's own run are comparable verdict by verdict.
 */
import { createRequire } from "node:module"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { TransportOptions } from "@omnibus/core"
import type { ConformanceTiming } from "../harness.ts"

export interface BrokerProfile {
  /** The results name, as the project's own run: rabbitmq, nats, redis, kafka. */
  readonly name: string
  readonly adapterPackage: string
  readonly leaseMs: number
  /** Every bus gets leaseMs (NATS: the consumers' ack wait), not only the buses of cases that ask for it. */
  readonly leaseOnEveryBus?: true
  readonly timing?: ConformanceTiming
  readonly publishDedup: true | { readonly reason: string }
  /** Broker objects left for a group, with the adapter's own helpers. */
  residue(url: string, group: string, options: TransportOptions): Promise<number>
  /** Deletes the run's durable groups, where the adapter offers it. */
  cleanup?(url: string, groups: ReadonlyArray<string>, options: TransportOptions): Promise<void>
  /** The fault cases' settings (--kill/--start), as adapters/<name>/test/faults.test.ts. */
  readonly faults: FaultProfile
}

export interface FaultProfile {
  /** Options of every bus the fault cases open. */
  readonly connect: TransportOptions
  readonly eventuallyMs?: number
  readonly modelDisruptionRate?: number
}

/** The file URL of an installed package: next to this one (npx, an app's node_modules), else in the working directory's project. */
export const moduleUrl = (pkg: string): string => {
  for (const from of [fileURLToPath(import.meta.url), join(process.cwd(), "package.json")]) {
    try {
      return pathToFileURL(createRequire(from).resolve(pkg)).href
    } catch {
      // not installed there
    }
  }
  throw new Error(`${pkg} is not installed (next to @omnibus/conformance or in ${process.cwd()})`)
}

type Loaded = Record<string, unknown>
/** The adapter next to this package (npx, an app's node_modules), else the one the working directory's project has. */
export const load = (pkg: string): Promise<Loaded> =>
  (import(pkg) as Promise<Loaded>).catch(() => import(pathToFileURL(createRequire(join(process.cwd(), "package.json")).resolve(pkg)).href) as Promise<Loaded>)
const fn = <F>(module: Loaded, name: string): F => {
  const f = module[name]
  if (typeof f !== "function") throw new Error(`the installed adapter exports no ${name}()`)
  return f as F
}
type Residue = (url: string, group: string, options?: TransportOptions) => Promise<number>
type DeleteGroups = (url: string, groups: ReadonlyArray<string>, options?: TransportOptions) => Promise<void>
type TopologyReport = (url: string, query: { readonly groups: ReadonlyArray<string> }, options?: TransportOptions) => Promise<{ readonly groups: ReadonlyArray<{ readonly objects: ReadonlyArray<unknown> }> }>

const rabbitmq: BrokerProfile = {
  name: "rabbitmq",
  adapterPackage: "@omnibus/rabbitmq",
  leaseMs: 1_000,
  publishDedup: { reason: "RabbitMQ has no publish-side deduplication (without a third-party plugin); use an idempotency store" },
  residue: async (url, group, options) => fn<Residue>(await load("@omnibus/rabbitmq"), "residue")(url, group, options),
  cleanup: async (url, groups, options) => fn<DeleteGroups>(await load("@omnibus/rabbitmq"), "deleteGroups")(url, groups, options),
  faults: { connect: { connectTimeoutMs: 15_000, reconnectMaxDelayMs: 1_000 } },
}

const nats: BrokerProfile = {
  name: "nats",
  adapterPackage: "@omnibus/nats",
  leaseMs: 1_000,
  leaseOnEveryBus: true,
  publishDedup: true,
  residue: async (url, group, options) => fn<Residue>(await load("@omnibus/nats"), "groupResidue")(url, group, options),
  cleanup: async (url, groups, options) => fn<DeleteGroups>(await load("@omnibus/nats"), "deleteGroups")(url, groups, options),
  faults: { connect: { connectTimeoutMs: 10_000, pullExpiresMs: 1_000 } },
}

const redis: BrokerProfile = {
  name: "redis",
  adapterPackage: "@omnibus/redis",
  leaseMs: 1_000,
  publishDedup: true,
  // @omnibus/redis exports no residue helper: its topology report lists what exists of the group.
  residue: async (url, group, options) => {
    const report = await fn<TopologyReport>(await load("@omnibus/redis"), "topologyReport")(url, { groups: [group] }, options)
    return report.groups.reduce((n, g) => n + g.objects.length, 0)
  },
  cleanup: async (url, groups, options) => fn<DeleteGroups>(await load("@omnibus/redis"), "deleteGroups")(url, groups, options),
  faults: { connect: { connectTimeoutMs: 10_000 } },
}

const kafka: BrokerProfile = {
  name: "kafka",
  adapterPackage: "@omnibus/kafka",
  leaseMs: 2_000,
  // group rebalances take seconds; retries ride a topic consumed in batches
  timing: { eventuallyMs: 30_000, backoffToleranceMs: 1_000 },
  publishDedup: {
    reason: "Kafka's idempotent producer drops only its own retried batches (producer id + sequence), not a re-publish of the same message id; use an idempotency store",
  },
  residue: async (url, group, options) => fn<Residue>(await load("@omnibus/kafka"), "kafkaResidue")(url, group, options),
  cleanup: async (url, groups, options) => fn<DeleteGroups>(await load("@omnibus/kafka"), "deleteGroups")(url, groups, options),
  // every consumer change is a group rebalance (seconds): fewer crashes and closes in the model check
  faults: { connect: { connectTimeoutMs: 20_000 }, eventuallyMs: 60_000, modelDisruptionRate: 0.15 },
}

const BY_SCHEME: Readonly<Record<string, BrokerProfile>> = {
  amqp: rabbitmq, amqps: rabbitmq, nats, tls: nats, redis, rediss: redis, kafka,
}

export const profileFor = (url: string): BrokerProfile => {
  const scheme = url.slice(0, Math.max(0, url.indexOf(":"))).toLowerCase()
  const profile = BY_SCHEME[scheme]
  if (profile === undefined) throw new Error(`no conformance profile for ${JSON.stringify(scheme)}: one of ${Object.keys(BY_SCHEME).join(", ")}`)
  return profile
}
