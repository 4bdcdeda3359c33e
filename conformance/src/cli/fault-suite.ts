/**
 * The fault cases the conformance CLI runs when given --kill and --start
 * (main.ts runs vitest on this file with a name filter: cases 28, 29, 34):
 * the fault suite with the user's broker as its "private" broker, killed and
 * started by their commands (command-launcher.ts).
 */
import { connect } from "@omnibus/core"
import { describeFaults } from "../faults/index.ts"
import { commandLauncher } from "./command-launcher.ts"
import { load, moduleUrl, profileFor } from "./profiles.ts"
import { readSettings } from "./settings.ts"

const settings = readSettings()
const profile = profileFor(settings.url)
await load(profile.adapterPackage)
if (settings.kill === undefined || settings.start === undefined) throw new Error("the fault cases need both --kill and --start")
const commands = { kill: settings.kill, start: settings.start }

describeFaults(settings.name ?? profile.name, {
  launch: async () => commandLauncher(settings.url, commands),
  connect: (url, options) => connect(url, { ...profile.faults.connect, ...options }),
  adapterModule: moduleUrl(profile.adapterPackage),
  leaseMs: profile.leaseMs,
  // the link-fault cases that use these (a frozen proxy) are not among the ones the CLI runs
  heartbeat: { options: {}, detectWithinMs: 15_000, how: "the adapter's defaults" },
  tlsOptions: () => ({}),
  ...(profile.faults.eventuallyMs !== undefined ? { eventuallyMs: profile.faults.eventuallyMs } : {}),
  ...(profile.faults.modelDisruptionRate !== undefined ? { modelDisruptionRate: profile.faults.modelDisruptionRate } : {}),
})
