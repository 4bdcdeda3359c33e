/**
 * What an adapter gives the conformance suite: a way to open buses on the
 * broker under test, a crash simulation, and a probe of broker-side leftovers.
 */
import type { Bus, Middleware } from "@omnibus/core"

/** What a case asks of a new bus: the crash cases' lease, the tracing case's middleware. */
export interface ConnectOptions {
  readonly leaseMs?: number
  readonly middleware?: ReadonlyArray<Middleware>
}
import type { RawMessage } from "./bad-input.ts"

/** A producer that is not Omnibus: the broker's own client (cases 36 and 37). */
export interface ForeignProducer {
  /** Writes the messages in order, as bad-input's writeRaw does, and resolves once the broker took them. */
  writeRaw(messages: ReadonlyArray<RawMessage>): Promise<void>
  /**
   * Opens a bus that gives foreign messages ids stable across redeliveries, where that is
   * an option (RabbitMQ: foreignIds "content"); default: connect.
   */
  connect?(options?: ConnectOptions): Promise<Bus>
  /** Closes the producer's client; runs once after all cases. */
  close?(): Promise<void>
}

export interface ConformanceTiming {
  /** Bound of every "eventually" wait (default 10_000; Kafka passes 30_000 for group rebalances). */
  readonly eventuallyMs?: number
  /** Allowed lateness of a retry against its backoff delay (default 250; Kafka 1000). */
  readonly backoffToleranceMs?: number
}

/**
 * How a forked child process opens a bus on the broker under test (case 40): it
 * imports `adapterModule` (which registers the adapter), then calls
 * `connect(url, options)`. The options must be JSON and give the child the same
 * broker view as `connect` (queue type and prefix, namespace...).
 */
export interface ChildProcessBus {
  /** File URL of a module that registers the adapter, e.g. new URL("../src/index.ts", import.meta.url).href. */
  readonly adapterModule: string
  readonly url: string
  readonly options: Readonly<Record<string, unknown>>
}

export interface ConformanceHarness {
  /**
   * The URL of the broker under test: before the cases the suite asks the server for its
   * product and version (brokers/server.ts), which label the run (results file, guarantees column).
   */
  readonly url?: string
  /** Opens a new independent Bus on the broker under test (think: another process). */
  connect(options?: ConnectOptions): Promise<Bus>
  /** Simulated crash of one bus; default: crash(bus) from @omnibus/core/testing. */
  crash?(bus: Bus): Promise<void>
  /**
   * How many broker objects (queues, consumers, streams, keys) still exist for a
   * group name; used by case 5 to prove an ephemeral subscription leaves nothing behind.
   */
  residue(group: string): Promise<number>
  /**
   * Deletes what the run left on the broker for these durable groups (queues,
   * consumers, streams), so shared brokers do not accumulate test groups that
   * keep receiving messages. Runs once after all cases.
   */
  cleanup?(groups: ReadonlyArray<string>): Promise<void>
  /**
   * The broker's redelivery deadline used when connect({leaseMs}) is passed
   * (case 30 runs a handler for 3x this). The crash cases (10, 16, 21) connect
   * with it too, so that a crashed consumer's messages come back within the
   * "eventually" bound; keep it well below timing.eventuallyMs.
   */
  readonly leaseMs: number
  readonly timing?: ConformanceTiming
  /** Case id -> one-line reason. Printed in the guarantees table. */
  readonly unsupported?: Partial<Record<number, string>>
  /**
   * Case 22: whether the broker offers publish-side dedup (memory: yes, NATS
   * JetStream msg id: yes, Kafka: no — its idempotent producer drops only its own retried batches, not a re-published id). If not, the case is
   * reported "n/a" with this reason string.
   */
  readonly publishDedup: true | { readonly reason: string }
  /**
   * Cases 36 and 37: a producer writing with the broker's own client. A broker that no
   * foreign client can write to (memory) gives the reason instead: the cases report "n/a".
   */
  readonly foreign: ForeignProducer | { readonly reason: string }
  /**
   * Case 40: the handling side of a trace runs in a forked child process. A broker that
   * lives inside one process (memory) gives the reason instead: the case reports "n/a".
   */
  readonly childProcess: ChildProcessBus | { readonly reason: string }
}
