/**
 * What an adapter gives the cluster fault suite: a running three-node cluster
 * (started outside the test process, e.g. by scripts/clusters/<broker>.sh), a way
 * to kill and restart each node, to name the node that leads a group's queue or
 * stream, and to open buses on URLs that list the nodes in a chosen order.
 */
import type { Bus, IdempotencyStore, TransportOptions } from "@omnibus/core"

export interface ClusterNode {
  /** The broker's own name for the node (what the leader lookups return), e.g. `rabbit@host`. */
  readonly name: string
  /** kill -9; resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts the node again on its data; resolves once it serves clients and rejoined the cluster. */
  restart(): Promise<void>
  /**
   * Cuts the node off from the other nodes (they drop what they send each other) while clients still
   * reach every node; resolves once the cut is in place. Where the nodes have it, C-partition runs.
   */
  isolate?(): Promise<void>
  /** Ends the cut; resolves once the cluster is whole again (the node serves and rejoined). */
  heal?(): Promise<void>
}

/** A node and what the lookup saw (followers, a consumer leader elsewhere...), for the notes. */
export interface Leader {
  readonly node: ClusterNode
  readonly detail: string
}

export interface ClusterHarness {
  /** The cluster's nodes, running when the suite starts. */
  readonly nodes: ReadonlyArray<ClusterNode>
  /** A URL naming these nodes in this order: a bus connects to the first that answers. */
  url(nodes: ReadonlyArray<ClusterNode>): string
  /** Opens a Bus on `url` (the harness adds what keeps the listed order, e.g. no shuffling). */
  connect(url: string, options?: TransportOptions): Promise<Bus>
  /** The node leading what a declared group's messages go through (its queue, or the stream it reads). */
  groupLeader(group: string): Promise<Leader>
  /** The node leading an RPC method's queue; undefined where requests go through no queue (NATS). */
  rpcLeader(method: string, group: string): Promise<Leader | undefined>
  /** The module that registers the adapter, for the forked RPC server processes. */
  readonly adapterModule: string
  /** The lease (redelivery deadline) the suite's buses use. */
  readonly leaseMs: number
  /** The store for the "handled twice" checks (default: core's MemoryIdempotencyStore). */
  idempotencyStore?(): IdempotencyStore
  /** Removes what the suite's groups left on the cluster (durable consumers, queues), after the suite. */
  deleteGroups?(groups: ReadonlyArray<string>): Promise<void>
  /** How the adapter replicates on this cluster (queue type, replicas), for the results. */
  readonly replication: string
  /**
   * Set for a configuration documented to lose confirmed messages when a node dies (Redis without
   * WAIT: asynchronous replication): C-leader-kill then measures and reports the loss instead of
   * asserting none, once `backlog(group)` (what the group still holds on the cluster: undelivered,
   * unacked or waiting for a retry) is 0, so what is still missing can no longer arrive.
   */
  readonly measuredLoss?: { backlog(group: string): Promise<number> }
  /**
   * C-model's schedule (conformance/src/clusters/model.ts): its steps (default 1,500;
   * OMNIBUS_MODEL_STEPS overrides), node kills (default 3; OMNIBUS_MODEL_KILLS overrides) and the
   * scale of its crash and close probabilities (default 1), sized to the suite's time budget.
   */
  readonly model?: { readonly steps?: number; readonly kills?: number; readonly disruptionRate?: number }
  /**
   * Set where a client connected to a node cut off from the others goes on publishing through the
   * majority side while the cut lasts: C-partition then asserts it; otherwise it measures and reports it.
   */
  readonly movesToMajority?: boolean
}
