/** The spans a platform with EMPLOYEE_TRACING=file:<dir> wrote (src/tracing/span-file.ts), from every process. */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { SPAN_FILE_SUFFIX, type SpanLine } from "../../src/tracing/span-file.ts"

/** Every finished span so far; a line still being written (no newline yet) is left for the next read. */
export const readSpans = (dir: string): Array<SpanLine> =>
  readdirSync(dir)
    .filter((f) => f.endsWith(SPAN_FILE_SUFFIX))
    .flatMap((f) => {
      const text = readFileSync(join(dir, f), "utf8")
      return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as SpanLine)
    })
