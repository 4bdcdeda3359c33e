/**
 * Containers on the host's network: the broker binds 127.0.0.1 on ports we
 * chose, so nothing is mapped. Two things in testcontainers assume mapped
 * ports, and both are handled here:
 *
 * - A module that exposes ports in its constructor (RabbitMQContainer,
 *   RedisContainer) leaves port bindings in the create request; Docker drops
 *   them in host mode and testcontainers then waits 10 s for bindings that
 *   never appear and fails. `hostNetworked` clears them.
 * - Its wait strategies check mapped ports (`Wait.forListeningPorts` finds
 *   none, so it would pass at once). `HostPortWait` checks the host port.
 */
import { accepts, waitUntil } from "@omnibus/conformance/brokers"
import { GenericContainer, type WaitStrategy } from "testcontainers"

// A mixin's base constructor must take `any[]` (TypeScript's rule for mixins); only `image` is passed.
type ContainerClass<C extends GenericContainer> = new (...args: any[]) => C

/** The container class with network mode "host" and no port mappings. */
export const hostNetworked = <C extends GenericContainer>(Base: ContainerClass<C>): ContainerClass<C> =>
  class extends (Base as ContainerClass<GenericContainer>) {
    constructor(image: string) {
      super(image)
      this.withNetworkMode("host")
      this.exposedPorts = []
      delete this.createOpts.ExposedPorts
      delete this.hostConfig.PortBindings
    }
  } as unknown as ContainerClass<C>

/** Ready once 127.0.0.1:`port` accepts connections (combine with the broker's own log line). */
export class HostPortWait implements WaitStrategy {
  private timeoutMs = 60_000
  private timeoutSet = false

  private readonly port: number

  constructor(port: number) {
    this.port = port
  }

  waitUntilReady(): Promise<void> {
    return waitUntil(() => accepts(this.port), this.timeoutMs, `127.0.0.1:${this.port} to accept connections`)
  }

  withStartupTimeout(startupTimeoutMs: number): this {
    this.timeoutMs = startupTimeoutMs
    this.timeoutSet = true
    return this
  }

  isStartupTimeoutSet(): boolean {
    return this.timeoutSet
  }

  getStartupTimeout(): number {
    return this.timeoutMs
  }
}
