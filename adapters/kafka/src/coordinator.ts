/**
 * The group coordinator for the requests a member sends itself (OffsetCommit and the
 * keep-alive Heartbeat of group-consumer.ts), and which failures of those requests are no
 * verdict on the membership: those are sent again after a new lookup.
 *
 * Our own lookup, forgotten when a request fails: the client caches its coordinator and
 * forgets it only on errors of its own calls, which commits go around, so after the
 * coordinator moved (the node died, a rolling restart) every commit went to the old one.
 */

import { errorTree } from "./error-tree.ts"

/**
 * The coordinator is not usable yet: none elected, or a node the client's metadata does not
 * list. After a node's kill, a member that had not committed since (idle partitions) still
 * knew the dead node as coordinator and found it gone from the metadata (refreshed by the
 * fetch loop once the node was fenced); taken for the broker's refusal of the commit, that
 * ended the member's partitions (partitions.ts) for the rest of the generation, and, as
 * nobody left or joined the group, for good. A new coordinator the metadata predates is
 * the same case.
 */
export class CoordinatorUnavailable extends Error {
  override readonly name = "CoordinatorUnavailable"
}

const TRANSIENT_API_ERRORS = new Set(["NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION"])

/** Network errors and timeouts (code PLT_KFK_NETWORK) and coordinator moves: not about the membership. */
export const isTransient = (e: unknown): boolean => {
  const all = errorTree(e)
  const apiIds = all.map((t) => t.apiId).filter((x): x is string => typeof x === "string")
  if (apiIds.some((id) => !TRANSIENT_API_ERRORS.has(id))) return false
  return apiIds.length > 0 || all.some((t) => t.code === "PLT_KFK_NETWORK" || t instanceof CoordinatorUnavailable)
}

export interface CoordinatorDeps<B, C> {
  /** FindCoordinator: the node id the cluster names for the group (negative: none yet). */
  readonly find: () => Promise<number>
  /** The brokers of the client's metadata, by node id. */
  readonly brokers: () => Promise<ReadonlyMap<number, B>>
  readonly connect: (broker: B) => Promise<C>
}

export interface Coordinator<C> {
  /** A connection to the coordinator, looked up if none is known; rejects with CoordinatorUnavailable while there is none to use. */
  connection(): Promise<C>
  /** After a failed request: the next one looks the coordinator up again. */
  forget(): void
}

export const coordinatorOf = <B, C>(deps: CoordinatorDeps<B, C>): Coordinator<C> => {
  let id: number | undefined
  return {
    async connection() {
      const found = (id ??= await deps.find())
      if (found < 0) {
        id = undefined
        throw new CoordinatorUnavailable("no group coordinator yet")
      }
      const broker = (await deps.brokers()).get(found)
      if (broker === undefined) {
        id = undefined
        throw new CoordinatorUnavailable(`group coordinator ${found} not in the metadata yet`)
      }
      return deps.connect(broker)
    },
    forget() {
      id = undefined
    },
  }
}
