/**
 * PostgreSQL for the tests: each platform or test gets a schema of its own in
 * the test database (OMNIBUS_POSTGRES_URL, else the machine's PostgreSQL,
 * which scripts/databases.sh starts), reached through a URL whose
 * search_path is that schema, and dropped afterwards.
 */
import pg from "pg"

export const POSTGRES_URL = process.env["OMNIBUS_POSTGRES_URL"] || "postgres://postgres@127.0.0.1:5432/test"

export interface TestSchema {
  /** The database URL with `options=-c search_path=<schema>`: everything the platform creates lands in the schema. */
  readonly url: string
  drop(): Promise<void>
}

let counter = 0

const admin = async <T>(f: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const createSchema = async (): Promise<TestSchema> => {
  const name = `employee_${process.pid}_${Date.now().toString(36)}_${counter++}`
  await admin((c) => c.query(`CREATE SCHEMA ${name}`))
  const url = new URL(POSTGRES_URL)
  url.searchParams.set("options", `-c search_path=${name}`)
  return { url: url.href, drop: () => admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`))) }
}
