/**
 * The configs the browser test runs, each against its real brokers (and
 * database). A config whose adapter is not registered fails the test loudly
 * (it is never skipped), so a config joins this list when its adapter lands:
 * add its name here.
 * All configs: all-memory, all-rabbitmq, all-redis, all-nats, all-kafka, book, all-rabbitmq-postgres.
 */
export const TESTED_CONFIGS: ReadonlyArray<string> = ["all-memory", "all-rabbitmq", "all-redis", "all-nats", "all-kafka", "book", "all-rabbitmq-postgres"]

/** Configs the browser test runs once more with DATABASE_URL: their SQLite files replaced by PostgreSQL. */
export const POSTGRES_OVERRIDE_CONFIGS: ReadonlyArray<string> = ["all-memory"]
