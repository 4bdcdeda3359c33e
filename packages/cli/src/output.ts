/**
 * Everything commands print: JSON lines, human lines with colour on a
 * terminal only (styleText honours NO_COLOR and FORCE_COLOR), tables and the
 * one-line progress of a load run.
 */
import { styleText } from "node:util"
import type { Io } from "./io.ts"

type Style = Parameters<typeof styleText>[0]

const styled = (terminal: boolean, style: Style, text: string): string => (terminal ? styleText(style, text, { validateStream: false }) : text)

/** Colour for standard output, only when it is a terminal; never in pipes or files. */
export const paint = (io: Io, style: Style, text: string): string => styled(io.tty, style, text)

/** A note on standard error (summaries, "tailing ..."), coloured when standard error is a terminal. */
export const note = (io: Io, style: Style, text: string): void => io.err(styled(io.errTty, style, text))

/** JSON that survives protobuf's 64-bit integers (bigint) and bytes fields. */
export const toJson = (value: unknown, indent?: number): string =>
  JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v),
    indent,
  )

export const printJsonLine = (io: Io, value: unknown): void => io.out(`${toJson(value)}\n`)

/** A payload inline: strings as they are, the rest as compact JSON. */
export const inline = (value: unknown): string => (typeof value === "string" ? value : toJson(value))

export const headersText = (headers: Readonly<Record<string, string>>): string =>
  Object.entries(headers)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")

export const isoTime = (ms: number): string => new Date(ms).toISOString()

/** Columns padded to their widest cell; the header in bold on a terminal. */
export const table = (io: Io, head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
  return [paint(io, "bold", line(head)), ...rows.map(line)].join("\n") + "\n"
}

/** Cuts long cells (error messages) so a table row stays on one line. */
export const cut = (text: string, max: number): string => {
  const flat = text.replace(/\s+/g, " ")
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`
}

/** Rewrites one status line in place when standard error is a terminal (whatever standard output is); prints nothing elsewhere. */
export const progress = (io: Io, text: string): void => {
  if (io.errTty) io.err(`\r\x1b[2K${text}`)
}

export const endProgress = (io: Io): void => {
  if (io.errTty) io.err("\r\x1b[2K")
}
