/** Private broker launchers for the fault suite (and any test that must kill or reconfigure a broker). */
export { accepts, freePort, freePorts, makeCertificates, waitUntil } from "./common.ts"
export type { Credentials, LaunchOptions, Launcher, TlsMaterial } from "./common.ts"
export { launchRedis, type RedisLaunchOptions } from "./redis.ts"
export { launchNats } from "./nats.ts"
export { launchRabbitmq } from "./rabbitmq.ts"
export { launchKafka } from "./kafka.ts"
export { detectServer, serverLabel, type BrokerServer } from "./server.ts"
