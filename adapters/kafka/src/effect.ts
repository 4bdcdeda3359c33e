/**
 * @omnibus/kafka/effect: the Effect entry of the adapter. A subpath of its own, so
 * importing the adapter does not load @omnibus/core/effect; importing this one
 * registers the adapter too.
 */
import type { TransportOptions } from "@omnibus/core"
import { Bus } from "@omnibus/core/effect"
import "./index.ts"

/** A Layer providing the `Bus` service (from @omnibus/core/effect) on Kafka, drained and closed when the Layer's scope ends. */
export const layer = (url = "kafka://127.0.0.1:9092", options: TransportOptions = {}): ReturnType<typeof Bus.layerFromUrl> => Bus.layerFromUrl(url, options)
