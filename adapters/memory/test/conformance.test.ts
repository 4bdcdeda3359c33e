import { connect } from "@omnibus/core"
import { describeConformance } from "@omnibus/conformance"
import { MemoryTransport } from "../src/transport.ts"

// Every bus of the run talks to one named in-process broker, like processes sharing a server.
const broker = `conformance-${process.pid}`

describeConformance("memory", {
  connect: (options) => connect(`memory://${broker}`, { ...options }),
  residue: async (group) => MemoryTransport.residue(broker, group),
  leaseMs: 300,
  publishDedup: true,
  foreign: { reason: "an in-process broker: no client but Omnibus can write to it" },
  childProcess: { reason: "an in-process broker: another process cannot reach it (case 39 proves the same trace within one process)" },
})
