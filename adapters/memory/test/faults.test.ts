/**
 * The fault suite has nothing to kill here: the memory adapter is an
 * in-process broker (no process, no connection, no credentials). Every fault
 * is reported n/a with the reason, so the guarantees table says so.
 */
import { describeFaults } from "@omnibus/conformance/faults"

describeFaults("memory", { notApplicable: "in-process broker: no broker process, connection or credentials to fault" })
