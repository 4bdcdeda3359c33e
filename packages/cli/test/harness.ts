/**
 * Runs the omnibus command two ways: the built binary (dist/main.js) as a child
 * process, with lines read as they come and waited for with deadlines; and
 * `run` in this process with buffered streams (memory:// brokers live in one process).
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { run, type Io } from "../src/index.ts"

export const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url))
export const PING_PROTO = fileURLToPath(new URL("./fixtures/ping.proto", import.meta.url))

export const assertBuilt = (): void => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (bash scripts/run.sh pnpm -r run build)`)
}

/** A condition polled until true or the deadline. */
export const eventually = async <A>(probe: () => Promise<A | undefined>, timeoutMs: number, what: string): Promise<A> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const a = await probe()
    if (a !== undefined) return a
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export interface Child {
  /** The first line (stdout or stderr) matching, from the start of the output; rejects at the deadline or if the process exits first. */
  readonly line: (stream: "stdout" | "stderr", match: RegExp, timeoutMs: number) => Promise<RegExpExecArray>
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
  readonly signal: (signal: NodeJS.Signals) => void
}

/** The binary as users run it: without the workspace's source condition, so it loads every package's dist/. */
const userEnv = (url: string | undefined): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
  delete env.NODE_OPTIONS
  delete env.OMNIBUS_URL
  if (url !== undefined) env.OMNIBUS_URL = url
  return env
}

export const start = (args: ReadonlyArray<string>, url?: string, input?: string): Child => {
  const child = spawn(process.execPath, [MAIN, ...args], { env: userEnv(url), stdio: ["pipe", "pipe", "pipe"] })
  const text = { stdout: "", stderr: "" }
  const waiters = new Set<() => void>()
  const notify = () => {
    for (const w of [...waiters]) w()
  }
  child.stdout.on("data", (d: Buffer) => ((text.stdout += d.toString()), notify()))
  child.stderr.on("data", (d: Buffer) => ((text.stderr += d.toString()), notify()))
  let code: number | null | undefined
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (c) => {
      code = c
      notify()
      resolve(c)
    }),
  )
  child.stdin.end(input ?? "")
  const line = (stream: "stdout" | "stderr", match: RegExp, timeoutMs: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        for (const l of text[stream].split("\n")) {
          const m = match.exec(l)
          if (m) return done(() => resolve(m))
        }
        if (code !== undefined) done(() => reject(new Error(`omnibus ${args.join(" ")} exited ${code} before printing ${match} on ${stream}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${match} on ${stream} of omnibus ${args.join(" ")}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`))), timeoutMs)
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  return { line, stdout: () => text.stdout, stderr: () => text.stderr, exited, signal: (s) => void child.kill(s) }
}

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the binary to its end (killed at the deadline). */
export const omnibus = async (args: ReadonlyArray<string>, url?: string, options: { readonly input?: string; readonly timeoutMs?: number } = {}): Promise<Result> => {
  const child = start(args, url, options.input)
  const timer = setTimeout(() => child.signal("SIGKILL"), options.timeoutMs ?? 30_000)
  const code = await child.exited
  clearTimeout(timer)
  return { code, stdout: child.stdout(), stderr: child.stderr() }
}

/** JSON lines of an output. */
export const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>)

/**
 * `run` in this process with buffered streams; `stop` plays SIGINT. `errTty` plays a
 * terminal on standard error only (progress lines), with standard output piped.
 */
export const inProcess = (env: Record<string, string> = {}, options: { readonly confirm?: boolean; readonly stdin?: string; readonly errTty?: boolean } = {}) => {
  const controller = new AbortController()
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    readStdin: async () => new TextEncoder().encode(options.stdin ?? ""),
    confirm: options.confirm === undefined ? undefined : async () => options.confirm!,
    tty: false,
    errTty: options.errTty ?? false,
    env,
    signal: controller.signal,
  }
  return {
    run: (argv: ReadonlyArray<string>) => run(argv, io),
    stdout: () => out.join(""),
    stderr: () => err.join(""),
    stop: () => controller.abort(),
  }
}
