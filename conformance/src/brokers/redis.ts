/**
 * A private redis-server: its own port and data dir, append-only file fsynced
 * on every write (a kill -9 keeps every acknowledged write), optional TLS
 * (rediss://, server certificate signed by the launcher's CA) and an ACL user.
 * OMNIBUS_REDIS_SERVER names another server binary (Redis 8, valkey-server;
 * scripts/matrix/brokers.sh env); default: redis-server on PATH.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { BrokerProcess, buildUrl, exchange, freePort, makeCertificates, makeTempDir, removeDir, waitUntil, launcherFor } from "./common.ts"
import type { Credentials, LaunchOptions, Launcher, TlsMaterial } from "./common.ts"

export interface RedisLaunchOptions extends LaunchOptions {
  /** More ACL file lines (e.g. a user limited to some keys); needs `auth` (the default user gets its password). */
  readonly extraAcl?: ReadonlyArray<string>
}

export const launchRedis = async (options: RedisLaunchOptions = {}): Promise<Launcher> => {
  const dir = makeTempDir("redis")
  const port = await freePort()
  const tls = options.tls ? await makeCertificates(dir) : undefined
  const proc = new BrokerProcess(dir)
  const host = "127.0.0.1"
  const args = [
    "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
    "--logfile", join(dir, "server.log"), "--daemonize", "no",
    // every accepted connection is logged at verbose level? no: count through the proxy instead
    ...(tls
      ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certFile, "--tls-key-file", tls.keyFile, "--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", "no"]
      : ["--port", String(port)]),
  ]
  if (options.auth) {
    // Redis 7.0 replays script effects from the AOF as the default user: keep it on (with a password).
    const acl = [
      `user default on >${options.auth.password} ~* &* +@all`,
      `user ${options.auth.user} on >${options.auth.password} ~* &* +@all`,
      ...(options.extraAcl ?? []),
    ]
    writeFileSync(join(dir, "users.acl"), `${acl.join("\n")}\n`)
    args.push("--aclfile", join(dir, "users.acl"))
  }
  const urlWith: Launcher["urlWith"] = (change) => {
    const useTls = change.tls ?? options.tls === true
    const creds: Credentials | null | undefined = change.credentials === undefined ? options.auth : change.credentials
    return buildUrl(useTls ? "rediss" : "redis", "127.0.0.1", change.port ?? port, creds)
  }
  const serving = async (): Promise<boolean> => {
    // A raw RESP probe (the conformance package does not depend on a Redis client):
    // AUTH first when needed, then PING must answer +PONG (-LOADING while the AOF loads).
    const auth = options.auth ? respCommand(["AUTH", options.auth.user, options.auth.password]) : ""
    const reply = await exchange({ port, tls: tls ? { ca: tls.ca } : undefined }, `${auth}${respCommand(["PING"])}`, (text) => /\+PONG|-LOADING|-ERR|-WRONGPASS|-NOAUTH/.test(text))
    return reply.includes("+PONG")
  }
  const start = async (): Promise<void> => {
    const mark = proc.mark()
    proc.spawn({ command: process.env.OMNIBUS_REDIS_SERVER ?? "redis-server", args })
    await waitUntil(serving, 20_000, `private redis-server on ${port}`, () => proc.failure(mark))
  }
  return launcherFor({ kind: "redis", port, dir, options, tls: tls as TlsMaterial | undefined, proc, start, urlWith, log: () => `${proc.text()}\n${readText(join(dir, "server.log"))}` })

}

const respCommand = (words: ReadonlyArray<string>): string =>
  `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join("")}`

const readText = (file: string): string => {
  try {
    return readFileSync(file, "utf8")
  } catch {
    return ""
  }
}
