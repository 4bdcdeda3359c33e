/**
 * The configs the browser test runs, each against its real brokers. A config
 * whose adapter is not registered fails the test loudly (it is never skipped),
 * so a config joins this list when its adapter lands: add its name here.
 * All configs: all-memory, all-rabbitmq, all-redis, all-nats, all-kafka, book.
 */
export const TESTED_CONFIGS: ReadonlyArray<string> = ["all-memory", "all-rabbitmq", "all-redis", "all-nats", "all-kafka", "book"]
