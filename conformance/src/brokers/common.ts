/**
 * Shared pieces of the private-broker launchers: free loopback ports, waiting
 * for a port to accept (with a deadline, never a fixed sleep), a child process
 * that can be SIGKILLed and started again on the same port and data dir, and
 * test certificates made with `openssl` (a CA and a server certificate for
 * 127.0.0.1 / localhost).
 */
import { execFile, spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import type { WriteStream } from "node:fs"
import { createConnection, createServer } from "node:net"
import { connect as tlsConnect } from "node:tls"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

/** Credentials a launcher enforces: a user/password (Redis ACL user, NATS user, RabbitMQ user). */
export interface Credentials {
  readonly user: string
  readonly password: string
}

export interface LaunchOptions {
  /** Serve TLS (certificates made in the broker's temp dir, see `Launcher.tls`). */
  readonly tls?: boolean
  /** Require these credentials; `url` carries them. */
  readonly auth?: Credentials
}

/** TLS material of a launcher: the CA that signed the server certificate. */
export interface TlsMaterial {
  readonly caFile: string
  readonly ca: Buffer
  readonly certFile: string
  readonly keyFile: string
}

/** A private broker process on a free loopback port with its own data dir. */
export interface Launcher {
  /** "redis" | "nats" | "rabbitmq" | "kafka". */
  readonly kind: string
  /** The URL clients use (TLS scheme and credentials included when enabled). */
  readonly url: string
  /** Client port (the TLS port when TLS is on). */
  readonly port: number
  readonly host: string
  readonly dir: string
  readonly options: LaunchOptions
  readonly tls: TlsMaterial | undefined
  /** PID of the running broker process, undefined while it is down. */
  readonly pid: number | undefined
  /** Whether the process is running (it may not accept connections yet). */
  readonly running: boolean
  /** Starts the broker and resolves once it serves clients. */
  start(): Promise<void>
  /** SIGKILL: no shutdown, no flush beyond what the broker already made durable. */
  kill9(): Promise<void>
  /** Starts again on the same port with the same data dir (call after kill9 or stop). */
  restart(): Promise<void>
  /** Graceful stop; the data dir stays (restart works). */
  shutdown(): Promise<void>
  /** Stops the broker (SIGKILL if it does not go) and deletes its temp dir. */
  stop(): Promise<void>
  /** The URL with another port (a proxy in front) and/or other credentials (null: none). */
  urlWith(change: { readonly port?: number; readonly credentials?: Credentials | null; readonly tls?: boolean }): string
  /** The broker's log so far (stdout + stderr + its own log files). */
  log(): string
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

/** Distinct free ports (the OS may hand the same one out twice in a row once closed). */
export const freePorts = async (n: number): Promise<Array<number>> => {
  const out = new Set<number>()
  for (let i = 0; out.size < n && i < n * 20; i++) out.add(await freePort())
  if (out.size < n) throw new Error(`could not find ${n} free ports`)
  return [...out]
}

export const accepts = (port: number, host = "127.0.0.1"): Promise<boolean> =>
  new Promise((resolve) => {
    const sock = createConnection({ port, host })
    const done = (ok: boolean) => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(1_000, () => done(false))
    sock.once("connect", () => done(true))
    sock.once("error", () => done(false))
  })

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `check` every 50 ms until it holds; throws `what` at the deadline or when `abort()` says why. */
export const waitUntil = async (
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  abort?: () => string | undefined,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    const why = abort?.()
    if (why !== undefined) throw new Error(`${what}: ${why}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

export const makeTempDir = (kind: string): string => mkdtempSync(join(tmpdir(), `omnibus-${kind}-`))

/** A CA and a server certificate (CN=localhost, SAN localhost + 127.0.0.1) signed by it. */
export const makeCertificates = async (dir: string): Promise<TlsMaterial> => {
  const f = (name: string) => join(dir, name)
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca-key.pem"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=omnibus test CA"])
  await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("server-key.pem"), "-out", f("server.csr"), "-subj", "/CN=localhost"])
  await run("sh", ["-c", `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth\\n' > '${f("ext.cnf")}'`])
  await run("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca-key.pem"), "-CAcreateserial", "-out", f("server.pem"), "-days", "2", "-extfile", f("ext.cnf")])
  return { caFile: f("ca.pem"), ca: readFileSync(f("ca.pem")), certFile: f("server.pem"), keyFile: f("server-key.pem") }
}

export interface SpawnSpec {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env?: NodeJS.ProcessEnv
  readonly cwd?: string
}

/** Process groups of live brokers: killed when the test process exits, so none is orphaned. */
const liveGroups = new Set<number>()
let exitHook = false
const killLiveGroups = (): void => {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
  liveGroups.clear()
}

/** The fields of /proc/<id>/stat after "(comm)", which may hold spaces and parentheses: [state, ppid, pgrp, ...]. */
const statFields = (file: string): Array<string> | undefined => {
  try {
    const stat = readFileSync(file, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** Whether any thread of process `pid` has not finished exiting. */
const threadsLive = (pid: string): boolean => {
  try {
    return readdirSync(`/proc/${pid}/task`).some((tid) => {
      const state = statFields(`/proc/${pid}/task/${tid}/stat`)?.[0]
      return state !== undefined && state !== "Z" && state !== "X"
    })
  } catch {
    return false
  }
}

/**
 * Whether a process of group `pgid` still runs. Reads /proc where there is one:
 * a SIGKILLed multithreaded broker (beam.smp, a JVM) shows its main thread as a
 * zombie while its other threads are still exiting and its listening socket is
 * still open, and a finished zombie answers signal 0 until someone reaps it;
 * neither says whether the port is closed, a live thread does.
 */
const groupAlive = (pgid: number): boolean => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    try {
      process.kill(-pgid, 0)
      return true
    } catch {
      return false
    }
  }
  return entries.some((entry) => /^\d+$/.test(entry) && Number(statFields(`/proc/${entry}/stat`)?.[2]) === pgid && threadsLive(entry))
}

/**
 * One broker process: spawned in its own process group (so kill9 also takes
 * helpers it started), output appended to `<dir>/process.log`. Brokers still
 * running when the test process exits are SIGKILLed with it.
 */
export class BrokerProcess {
  private proc: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private out: WriteStream | undefined
  exitInfo: string | undefined
  readonly logFile: string

  constructor(dir: string) {
    this.logFile = join(dir, "process.log")
  }

  get pid(): number | undefined {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined
  }

  get running(): boolean {
    return this.pid !== undefined
  }

  spawn(spec: SpawnSpec): void {
    if (this.running) throw new Error("broker process already running")
    this.out ??= createWriteStream(this.logFile, { flags: "a" })
    this.exitInfo = undefined
    const proc = spawn(spec.command, [...spec.args], {
      env: spec.env ?? process.env,
      cwd: spec.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    })
    this.proc = proc
    const pid = proc.pid
    if (pid !== undefined) liveGroups.add(pid)
    if (!exitHook) {
      exitHook = true
      process.once("exit", killLiveGroups)
    }
    proc.stdout?.on("data", (d: Buffer) => this.out?.write(d))
    proc.stderr?.on("data", (d: Buffer) => this.out?.write(d))
    this.exited = new Promise<void>((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitInfo = `exited with ${signal ?? `code ${code}`}`
        if (pid !== undefined) liveGroups.delete(pid)
        resolve()
      })
      proc.once("error", (e) => {
        this.exitInfo = `failed to start: ${e.message}`
        resolve()
      })
    })
  }

  /** Why the process is gone, if it is; with `since`, the last lines it logged after that mark. */
  failure(since?: number): string | undefined {
    if (!this.proc || this.running) return undefined
    const why = this.exitInfo ?? "exited"
    if (since === undefined) return why
    const tail = this.since(since).trim().split("\n").slice(-8).join("\n")
    return tail ? `${why}; last lines of its log:\n${tail}` : why
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.proc?.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, signal)
    } catch {
      try {
        this.proc?.kill(signal)
      } catch {
        // already gone
      }
    }
  }

  /**
   * SIGKILL to the whole group, then waits until no process of it is left: the
   * direct child (a start script) can be reaped before the broker process it
   * started (e.g. RabbitMQ's beam.smp) has died and closed its listening socket,
   * so "exited" alone does not mean the port is closed.
   */
  async kill9(): Promise<void> {
    if (!this.proc) return
    this.signalGroup("SIGKILL")
    await this.exited
    await this.groupGone()
  }

  private async groupGone(timeoutMs = 10_000): Promise<void> {
    const pid = this.proc?.pid
    if (pid === undefined) return
    await waitUntil(() => !groupAlive(pid), timeoutMs, `process group ${pid} to be gone after SIGKILL`)
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async terminate(graceMs = 15_000): Promise<void> {
    if (!this.proc) return
    if (!this.running) return this.exited
    this.signalGroup("SIGTERM")
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([this.exited, new Promise<void>((r) => { timer = setTimeout(r, graceMs) })])
    clearTimeout(timer)
    if (this.running) await this.kill9()
    // helpers left in the group (erl_child_setup, ...)
    this.signalGroup("SIGKILL")
    await this.groupGone()
  }

  async dispose(): Promise<void> {
    await this.terminate()
    await new Promise<void>((r) => (this.out ? this.out.end(r) : r()))
    this.out = undefined
  }

  text(): string {
    try {
      return readFileSync(this.logFile, "utf8")
    } catch {
      return ""
    }
  }

  /** Where the log ends now: `since(mark)` then shows only what a later start wrote. */
  mark(): number {
    return Buffer.byteLength(this.text())
  }

  since(mark: number): string {
    return Buffer.from(this.text()).subarray(mark).toString("utf8")
  }
}

export const removeDir = (dir: string): void => {
  rmSync(dir, { recursive: true, force: true })
}

/** Builds a URL from parts; credentials percent-encoded. */
export const buildUrl = (scheme: string, host: string, port: number, credentials: Credentials | null | undefined, path = ""): string => {
  const auth = credentials ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@` : ""
  return `${scheme}://${auth}${host}:${port}${path}`
}

/**
 * Connects (TCP or TLS), writes `request`, and collects the bytes that come back
 * until `done(bytes)` holds, the peer closes, or 2 s pass. Empty when it cannot connect.
 */
export const exchangeBytes = (
  target: { readonly port: number; readonly host?: string; readonly tls?: import("node:tls").ConnectionOptions | undefined },
  request: string | Uint8Array,
  done: (bytes: Buffer) => boolean,
): Promise<Buffer> =>
  new Promise((resolve) => {
    let bytes = Buffer.alloc(0)
    let finished = false
    const host = target.host ?? "127.0.0.1"
    const sock = target.tls ? tlsConnect({ port: target.port, host, ...target.tls }) : createConnection({ port: target.port, host })
    const finish = () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      sock.destroy()
      resolve(bytes)
    }
    const timer = setTimeout(finish, 2_000)
    sock.once(target.tls ? "secureConnect" : "connect", () => { if (request.length > 0) sock.write(request) })
    sock.on("data", (d: Buffer) => {
      bytes = Buffer.concat([bytes, d])
      if (done(bytes)) finish()
    })
    sock.once("error", finish)
    sock.once("close", finish)
  })

/** exchangeBytes for text protocols: "" when it cannot connect. */
export const exchange = async (
  target: { readonly port: number; readonly host?: string; readonly tls?: import("node:tls").ConnectionOptions | undefined },
  request: string,
  done: (text: string) => boolean,
): Promise<string> => (await exchangeBytes(target, request, (b) => done(b.toString("utf8")))).toString("utf8")

/** What differs between brokers; `launcherFor` builds the rest of a Launcher the same way for all. */
export interface LauncherParts {
  readonly kind: string
  readonly port: number
  readonly dir: string
  readonly options: LaunchOptions
  readonly tls: TlsMaterial | undefined
  readonly proc: BrokerProcess
  readonly start: () => Promise<void>
  readonly urlWith: Launcher["urlWith"]
  /** Graceful-stop deadline in ms (JVM and Erlang brokers need longer than the default). */
  readonly shutdownMs?: number
  readonly log?: () => string
}

export const launcherFor = (p: LauncherParts): Launcher => ({
  kind: p.kind,
  url: p.urlWith({}),
  port: p.port,
  host: "127.0.0.1",
  dir: p.dir,
  options: p.options,
  tls: p.tls,
  get pid() { return p.proc.pid },
  get running() { return p.proc.running },
  start: p.start,
  kill9: () => p.proc.kill9(),
  restart: async () => {
    if (p.proc.running) await p.proc.kill9()
    await p.start()
  },
  shutdown: () => (p.shutdownMs === undefined ? p.proc.terminate() : p.proc.terminate(p.shutdownMs)),
  stop: async () => {
    await p.proc.dispose()
    removeDir(p.dir)
  },
  urlWith: p.urlWith,
  log: p.log ?? (() => p.proc.text()),
})
