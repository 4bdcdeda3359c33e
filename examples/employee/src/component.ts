/** What every part of the platform (service, web, audit, payroll) returns when started. */
export interface Component {
  /** Stops taking work, finishes what is running, disconnects. */
  close(): Promise<void>
}

export type Log = (line: string) => void
