/**
 * What an adapter gives the fault suite: a private broker launcher and a way
 * to open buses on a URL (the broker's, or a proxy's in front of it).
 */
import type { Bus, IdempotencyStore, TransportOptions } from "@omnibus/core"
import type { LaunchOptions, Launcher, TlsMaterial } from "../brokers/common.ts"
import type { FaultId } from "../cases.ts"

export interface FaultHarness {
  /** Starts a private broker the suite owns (free loopback port, own temp dir); started when it resolves. */
  launch(options?: LaunchOptions): Promise<Launcher>
  /**
   * Opens a Bus on `url` with these options on top of the adapter's defaults.
   * The suite passes connectTimeoutMs, leaseMs, the heartbeat options below, and
   * for TLS the options from `tlsOptions`.
   */
  connect(url: string, options?: TransportOptions): Promise<Bus>
  /**
   * Module (file URL) that registers the adapter when imported: the forked
   * consumer process imports it before `connect` (e.g. new URL("../src/index.ts", import.meta.url).href).
   */
  readonly adapterModule: string
  /** The broker's redelivery deadline passed as `leaseMs` (crashed consumers' messages come back after it). */
  readonly leaseMs: number
  /**
   * How the adapter detects a dead (frozen) link: the options that set its
   * heartbeat, and the bound within which health() must report not ready
   * after the link freezes. Every bus of the link cases connects with these options.
   */
  readonly heartbeat: { readonly options: TransportOptions; readonly detectWithinMs: number; readonly how: string }
  /** Connect options that make the adapter trust the launcher's CA. */
  tlsOptions(tls: TlsMaterial): TransportOptions
  /** The store for the "handled twice" checks (default: core's MemoryIdempotencyStore). */
  idempotencyStore?(): IdempotencyStore
  /** Bound of every "eventually" wait (default 30 s). */
  readonly eventuallyMs?: number
  /** Fault id -> reason: reported as unsupported instead of running. */
  readonly unsupported?: Partial<Record<FaultId, string>>
  /** Model-check steps (default 2,000; OMNIBUS_MODEL_STEPS overrides). */
  readonly modelSteps?: number
  /**
   * Scales the model check's crash and close probabilities (default 1: about 2.5 % crashes
   * and 3.5 % closes per step). Brokers where every consumer change costs a group
   * rebalance (Kafka) pass less, so 2,000 steps fit the CI budget.
   */
  readonly modelDisruptionRate?: number
}

/** For adapters with no broker process (memory): every fault is reported n/a with this reason. */
export interface NoBrokerHarness {
  readonly notApplicable: string
}
