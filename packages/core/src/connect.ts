/**
 * The Promise API's entry points, `connect()` and `fromTransport()`. The Bus
 * behind them (promise.ts, bus.ts and the Effect runtime) is imported on their
 * first call, so that importing `@omnibus/core` or an adapter loads no more of
 * effect than the error classes need (bench/FINDINGS.md, "Footprint").
 */
import type { Bus, BusOptions } from "./api.ts"
import type { Transport, TransportOptions } from "./transport.ts"

export interface ConnectConfig extends TransportOptions, BusOptions {
  readonly url: string
}

/** Bus options (middleware, logger) apart from the adapter's. */
export const splitOptions = (options: TransportOptions & BusOptions): [TransportOptions, BusOptions] => {
  const { middleware, logger, ...rest } = options
  return [rest, { ...(middleware === undefined ? {} : { middleware }), ...(logger === undefined ? {} : { logger }) }]
}

/**
 * Connects to a broker chosen by the URL's scheme (default: the embedded
 * in-memory broker), e.g. `connect(process.env.OMNIBUS_URL ?? "memory://")`.
 */
export const connect = (target: string | ConnectConfig = "memory://", options: TransportOptions & BusOptions = {}): Promise<Bus> => {
  const [url, opts] = typeof target === "string" ? [target, options] : [target.url, { ...target, ...options }]
  const [transportOptions, config] = splitOptions(opts)
  return import("./promise.ts").then((p) => p.openBus(url, transportOptions, config))
}

/** Wraps a transport you built yourself. */
export const fromTransport = (transport: Transport, options: BusOptions = {}): Promise<Bus> => import("./promise.ts").then((p) => p.busOver(transport, options))
