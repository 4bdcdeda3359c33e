/**
 * @omnibus/testing: a real broker per test run (`startBroker`), a bus per
 * test in its own namespace (`testBus`), and the spies of @omnibus/core/testing.
 */
export { startBroker, DEFAULT_IMAGES, type BrokerKind, type BrokerVia, type StartBrokerOptions, type StartedBroker } from "./broker.ts"
export { testBus, type TestBus, type TestBusOptions } from "./bus.ts"
export { waitFor, type WaitForOptions } from "./wait.ts"
export { spy, crash, type Spy } from "@omnibus/core/testing"
