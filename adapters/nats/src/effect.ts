/**
 * @omnibus/nats/effect: the Effect entry of the adapter. A subpath of its own, so
 * importing the adapter does not load @omnibus/core/effect; importing this one
 * registers the adapter too.
 */
import type { TransportOptions } from "@omnibus/core"
import { Bus } from "@omnibus/core/effect"
import "./index.ts"

/** A Layer providing the `Bus` service (from @omnibus/core/effect) on NATS, drained and closed when the Layer's scope ends. */
export const layer = (url = "nats://127.0.0.1:4222", options: TransportOptions = {}): ReturnType<typeof Bus.layerFromUrl> => Bus.layerFromUrl(url, options)
