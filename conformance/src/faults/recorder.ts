/**
 * Fault-suite results: one row per fault (cases 28, 29, 34 of docs/conformance.md and
 * the named faults), with the measured numbers, written to
 * conformance/results/faults/<adapter>.json; guarantees.ts merges the case
 * rows into the conformance table and prints the "what survives what" table.
 */
import { mkdir, rename, writeFile } from "node:fs/promises"
import { resultsDir, resultsFileName } from "../results.ts"
import type { CaseStatus } from "../results.ts"
import type { FaultId } from "../cases.ts"
import type { BrokerServer } from "../brokers/server.ts"

export interface FaultMetrics {
  /** Messages the case tried to publish. */
  sent?: number
  /** Publishes confirmed by the broker. */
  confirmed?: number
  /** Publishes rejected with a typed error (reported to the publisher: not lost). */
  rejected?: number
  /** Confirmed messages never handled. */
  lost?: number
  /** Messages whose handler ran to completion more than once (with the idempotency store where the case uses one). */
  handledTwice?: number
  /** Deliveries of an id seen more than once by the adapter (before the store dedups). */
  redelivered?: number
  /** From the end of the fault (broker serving again, link restored) to the first message handled after it. */
  recoveryMs?: number
  /** From the fault to health() reporting not ready. */
  detectionMs?: number
  /** Connections the proxy accepted (reconnect storm check). */
  connections?: number
  note?: string
}

/** `Id`: the suite's row ids (the cluster suite, conformance/src/clusters/, has its own). */
export interface FaultResult<Id extends string = FaultId> {
  readonly id: Id
  readonly title: string
  readonly status: CaseStatus
  readonly reason?: string
  readonly durationMs: number
  readonly metrics?: FaultMetrics
}

export interface FaultRun<Id extends string = FaultId> {
  readonly adapter: string
  readonly runAt: string
  readonly node: string
  /** The broker product and version of the suite's private broker, when known. */
  readonly server?: BrokerServer
  readonly faults: ReadonlyArray<FaultResult<Id>>
}

export class FaultRecorder<Id extends string = FaultId> {
  private readonly results = new Map<Id, FaultResult<Id>>()
  readonly runAt = new Date().toISOString()
  readonly adapter: string
  /** Set once the suite asked its broker. */
  server: BrokerServer | undefined

  constructor(adapter: string) {
    this.adapter = adapter
  }

  record(result: FaultResult<Id>): void {
    this.results.set(result.id, result)
  }

  get size(): number {
    return this.results.size
  }

  toJSON(): FaultRun<Id> {
    return { adapter: this.adapter, runAt: this.runAt, node: process.version, ...(this.server ? { server: this.server } : {}), faults: [...this.results.values()] }
  }
}

export const faultResultsDir = `${resultsDir}faults/`

export const writeFaultResults = async <Id extends string>(recorder: FaultRecorder<Id>, registered: number, dir: string = faultResultsDir): Promise<string> => {
  const run = recorder.toJSON()
  await mkdir(dir, { recursive: true })
  const file = `${dir}${resultsFileName(run.adapter, recorder.size < registered, run.server)}`
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(run, null, 2)}\n`)
  await rename(tmp, file)
  return file
}
