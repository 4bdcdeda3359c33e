/**
 * The suite the conformance CLI runs in vitest (main.ts points vitest at this
 * file): sections A–F and H against the URL it was given, with the settings
 * of the broker's profile (profiles.ts).
 */
import { connect } from "@omnibus/core"
import { describeConformance } from "../index.ts"
import { load, moduleUrl, profileFor } from "./profiles.ts"
import { FOREIGN_SKIP, readSettings } from "./settings.ts"

const settings = readSettings()
const profile = profileFor(settings.url)
// registers the URL scheme with core
await load(profile.adapterPackage)

describeConformance(settings.name ?? profile.name, {
  // the results are labelled with the broker and version the server reports (brokers/server.ts)
  url: settings.url,
  connect: (options) => connect(settings.url, { ...options, ...(profile.leaseOnEveryBus ? { leaseMs: options?.leaseMs ?? profile.leaseMs } : {}) }),
  residue: (group) => profile.residue(settings.url, group, {}),
  ...(profile.cleanup ? { cleanup: (groups: ReadonlyArray<string>) => profile.cleanup!(settings.url, groups, {}) } : {}),
  leaseMs: profile.leaseMs,
  ...(profile.timing ? { timing: profile.timing } : {}),
  publishDedup: profile.publishDedup,
  foreign: { reason: FOREIGN_SKIP },
  // case 40's child process imports the same adapter and connects to the same URL
  childProcess: { adapterModule: moduleUrl(profile.adapterPackage), url: settings.url, options: profile.leaseOnEveryBus ? { leaseMs: profile.leaseMs } : {} },
})
