/**
 * What a command touches outside itself. main.ts passes the process's streams,
 * environment and signals; tests pass buffers and an AbortController.
 */
export interface Io {
  /** Writes to standard output (no newline added). */
  readonly out: (text: string) => void
  /** Writes to standard error (no newline added). */
  readonly err: (text: string) => void
  /** Standard input as bytes (payload `-`, `--raw`). */
  readonly readStdin: () => Promise<Uint8Array>
  /** Asks a yes/no question on the terminal; undefined when there is no terminal to ask. */
  readonly confirm: ((question: string) => Promise<boolean>) | undefined
  /** Whether standard output is a terminal: tables and colours of what goes there. */
  readonly tty: boolean
  /**
   * Whether standard error is a terminal: progress lines and colours of notes. Apart from
   * `tty`, so that `omnibus publish ... > ids.txt` still shows its progress.
   */
  readonly errTty: boolean
  /** Where OMNIBUS_URL is read. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Aborted on SIGINT/SIGTERM: long-running commands (tail, serve) close and return. */
  readonly signal: AbortSignal
}
