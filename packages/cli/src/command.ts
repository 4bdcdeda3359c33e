/** The shape of one command under commands/: its name, a line for the tool's help, its own help, and its run. */
import type { Io } from "./io.ts"

export interface Command {
  /** What follows `omnibus` on the command line. */
  readonly name: string
  /** One line for the tool's help. */
  readonly summary: string
  /** Full help: usage, options, examples. */
  readonly help: string
  /** Returns the exit code; throws for errors main.ts reports (errors.ts). */
  readonly run: (args: ReadonlyArray<string>, io: Io) => Promise<number>
}
