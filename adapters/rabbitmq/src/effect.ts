/**
 * @omnibus/rabbitmq/effect: the Effect entry of the adapter. A subpath of its own, so
 * importing the adapter does not load @omnibus/core/effect; importing this one
 * registers the adapter too.
 */
import { Bus } from "@omnibus/core/effect"
import "./index.ts"
import type { RabbitOptions } from "./transport.ts"

/** A Layer providing the `Bus` service (from @omnibus/core/effect) on RabbitMQ, drained and closed when the Layer's scope ends. */
export const layer = (url = "amqp://guest:guest@127.0.0.1:5672", options: RabbitOptions = {}): ReturnType<typeof Bus.layerFromUrl> =>
  Bus.layerFromUrl(url, options)
