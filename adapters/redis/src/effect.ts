/**
 * @omnibus/redis/effect: the Effect entry of the adapter. A subpath of its own, so
 * importing the adapter does not load @omnibus/core/effect; importing this one
 * registers the adapter too.
 */
import { Bus } from "@omnibus/core/effect"
import "./index.ts"
import type { RedisTransportOptions } from "./transport.ts"

/** A Layer providing the `Bus` service (from @omnibus/core/effect) on Redis Streams, drained and closed when the Layer's scope ends. */
export const layer = (url = "redis://127.0.0.1:6379", options: RedisTransportOptions = {}): ReturnType<typeof Bus.layerFromUrl> =>
  Bus.layerFromUrl(url, options)
