/** What the adapter's parts share. */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import type { NatsSettings } from "./config.ts"
import type { Link } from "./connection.ts"
import type { Publisher } from "./publisher.ts"
import type { Topology } from "./topology.ts"
import type { WireCodec } from "./wire.ts"

export interface Ctx {
  readonly link: Link
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly settings: NatsSettings
  readonly topology: Topology
  readonly wire: WireCodec
  readonly publisher: Publisher
}

/** Core NATS subject on which replay() wakes the group's consumers up. */
export const replayNotifySubject = (settings: NatsSettings, encGroup: string): string => `${settings.replayStream}-notify.${encGroup}`
