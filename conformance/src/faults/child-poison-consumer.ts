/**
 * A consumer process that dies on poison, for the "poison among healthy
 * traffic" faults: a healthy message is recorded (appended synchronously to
 * a file, so the record survives the crash) and acked; a message marked
 * poison makes the process exit at once inside its handler, in the same
 * event-loop turn as whatever the other handlers just finished. The parent
 * restarts it each time, as a supervisor would.
 *
 * Input: env OMNIBUS_FAULT_CHILD = JSON { adapterModule, url, options, pattern, group, concurrency, maxRedeliveries, handledFile }.
 */
import { appendFileSync } from "node:fs"
import { runChild, type ChildBase } from "./child-runtime.ts"

interface ChildConfig extends ChildBase {
  readonly pattern: string
  readonly group: string
  readonly concurrency: number
  readonly maxRedeliveries: number
  readonly handledFile: string
}

runChild<ChildConfig>((bus, config) =>
  bus.subscribe<{ readonly i: number; readonly poison?: boolean }>(
    config.pattern,
    (m) => {
      if (m.payload.poison === true) process.exit(1)
      appendFileSync(config.handledFile, `${m.id}\n`)
    },
    {
      group: config.group,
      concurrency: config.concurrency,
      retry: { attempts: 3, maxRedeliveries: config.maxRedeliveries, backoff: { initial: 20, factor: 1, jitter: false } },
    },
  ),
)
