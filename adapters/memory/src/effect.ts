/**
 * @omnibus/memory/effect: the Effect entry of the adapter. A subpath of its own, so
 * importing the adapter does not load @omnibus/core/effect; importing this one
 * registers the adapter too.
 */
import type { TransportOptions } from "@omnibus/core"
import { Bus } from "@omnibus/core/effect"
import "./index.ts"

/** A Layer providing the `Bus` service (from @omnibus/core/effect) on the in-process broker, drained and closed when the Layer's scope ends. */
export const layer = (url = "memory://", options: TransportOptions = {}): ReturnType<typeof Bus.layerFromUrl> => Bus.layerFromUrl(url, options)
