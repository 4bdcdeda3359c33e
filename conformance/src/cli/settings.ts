/** What the CLI (main.ts) hands the suite it runs in vitest (suite.ts): one JSON environment variable. */
export interface CliSettings {
  readonly url: string
  /** Results name (default: the broker's, as in the project's own run). */
  readonly name?: string
  /** Shell commands that kill and start the broker: with both, the fault cases run too (command-launcher.ts). */
  readonly kill?: string
  readonly start?: string
}

export const SETTINGS_VARIABLE = "OMNIBUS_CONFORMANCE_CLI"

/** Cases 36 and 37 need a producer on the broker's own client (adapters/<name>/test/raw-producer.ts): the CLI has none. */
export const FOREIGN_SKIP = "needs a producer written with the broker's own client, which the CLI does not have"

/** The fault suite's contract cases: each kills or stops the broker. */
export const FAULT_SKIP = "kills and restarts the broker: give --kill and --start commands to run it"

export const readSettings = (): CliSettings => {
  const raw = process.env[SETTINGS_VARIABLE]
  if (raw === undefined) throw new Error(`${SETTINGS_VARIABLE} is not set: run this file through the omnibus-conformance command`)
  return JSON.parse(raw) as CliSettings
}
