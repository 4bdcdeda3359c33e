/**
 * A private nats-server with JetStream on file storage (`-sd` in its temp
 * dir), optional TLS (server certificate signed by the launcher's CA; then
 * every client must use TLS) and a user/password. OMNIBUS_NATS_SERVER names
 * another nats-server (scripts/matrix/brokers.sh env); default: the one on PATH.
 */
import { join } from "node:path"
import { BrokerProcess, buildUrl, freePort, makeCertificates, makeTempDir, removeDir, waitUntil, launcherFor } from "./common.ts"
import type { Credentials, LaunchOptions, Launcher } from "./common.ts"

export const launchNats = async (options: LaunchOptions = {}): Promise<Launcher> => {
  const dir = makeTempDir("nats")
  const port = await freePort()
  const tls = options.tls ? await makeCertificates(dir) : undefined
  const proc = new BrokerProcess(dir)
  const args = [
    "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "store"), "-n", `omnibus-${port}`,
    ...(options.auth ? ["--user", options.auth.user, "--pass", options.auth.password] : []),
    ...(tls ? ["--tls", "--tlscert", tls.certFile, "--tlskey", tls.keyFile] : []),
  ]
  const urlWith: Launcher["urlWith"] = (change) => {
    const useTls = change.tls ?? options.tls === true
    const creds: Credentials | null | undefined = change.credentials === undefined ? options.auth : change.credentials
    return buildUrl(useTls ? "tls" : "nats", "127.0.0.1", change.port ?? port, creds)
  }
  const start = async (): Promise<void> => {
    const mark = proc.mark()
    proc.spawn({ command: process.env.OMNIBUS_NATS_SERVER ?? "nats-server", args })
    // "Server is ready" comes after JetStream recovered its streams from the store.
    await waitUntil(() => proc.since(mark).includes("Server is ready"), 20_000, `private nats-server on ${port}`, () => proc.failure(mark))
  }
  return launcherFor({ kind: "nats", port, dir, options, tls: tls, proc, start, urlWith })

}
