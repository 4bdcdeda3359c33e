/**
 * A private RabbitMQ node next to the machine's broker: its own node name
 * (omnibus-<rand>@localhost), AMQP and distribution ports, mnesia and log
 * dirs, config, plugins file and Erlang cookie, all in a temp dir.
 *
 * It runs `/usr/lib/rabbitmq/bin/rabbitmq-server` in the foreground as a
 * child process. Not `/usr/sbin/rabbitmq-server` (as root that wrapper
 * re-executes itself through `su rabbitmq`, which cannot read our temp dir and
 * whose `-detached` start fails silently), and RABBITMQ_CONF_ENV_FILE points
 * at an empty file so /etc/rabbitmq/rabbitmq-env.conf (NODENAME=rabbit@localhost)
 * does not make the node collide with the machine's broker.
 *
 * Another RabbitMQ version (scripts/matrix/brokers.sh env): OMNIBUS_RABBITMQ_SERVER
 * names its rabbitmq-server (e.g. a wrapper into the Debian 13 root) and
 * OMNIBUS_RABBITMQ_EXTRA_CONF a file of rabbitmq.conf lines appended to the
 * node's (e.g. scripts/matrix/rabbitmq-4.conf, deprecated features refused),
 * all but the refusal of transient_nonexcl_queues: these nodes are killed and
 * restarted, and RabbitMQ 4.0.5 then failed to boot now and then with it
 * (its boot-time check whether the feature is used read the rabbit_queue table
 * before Mnesia had loaded it: `aborted, no_exists` became
 * `failed_to_deny_deprecated_features`; 2 of 4 model-check runs with seed
 * 965468609). The shared matrix node, always booted on a fresh data dir, keeps
 * that refusal for the conformance suite's declarations (RPC queues included).
 */
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { BrokerProcess, buildUrl, freePorts, makeCertificates, makeTempDir, removeDir, waitUntil, launcherFor } from "./common.ts"
import type { Credentials, LaunchOptions, Launcher } from "./common.ts"

const SERVER = process.env.OMNIBUS_RABBITMQ_SERVER ?? "/usr/lib/rabbitmq/bin/rabbitmq-server"
const extraConf = (): string => {
  const file = process.env.OMNIBUS_RABBITMQ_EXTRA_CONF
  if (!file) return ""
  return readFileSync(file, "utf8").split("\n").filter((l) => !/^\s*deprecated_features\.permit\.transient_nonexcl_queues\b/.test(l)).join("\n")
}

export const launchRabbitmq = async (options: LaunchOptions = {}): Promise<Launcher> => {
  const dir = makeTempDir("rabbitmq")
  const [port, distPort] = (await freePorts(2)) as [number, number]
  const tls = options.tls ? await makeCertificates(dir) : undefined
  const proc = new BrokerProcess(dir)
  const node = `omnibus-${randomBytes(4).toString("hex")}@localhost`
  const home = join(dir, "home")
  mkdirSync(home)
  mkdirSync(join(dir, "mnesia"))
  mkdirSync(join(dir, "log"))
  writeFileSync(join(home, ".erlang.cookie"), `OMNIBUS${randomBytes(12).toString("hex").toUpperCase()}`)
  chmodSync(join(home, ".erlang.cookie"), 0o400)
  const auth: Credentials = options.auth ?? { user: "guest", password: "guest" }
  const conf = [
    tls ? "listeners.tcp = none" : `listeners.tcp.local = 127.0.0.1:${port}`,
    ...(tls
      ? [
          `listeners.ssl.default = 127.0.0.1:${port}`,
          `ssl_options.cacertfile = ${tls.caFile}`,
          `ssl_options.certfile = ${tls.certFile}`,
          `ssl_options.keyfile = ${tls.keyFile}`,
          "ssl_options.verify = verify_none",
          "ssl_options.fail_if_no_peer_cert = false",
        ]
      : []),
    "loopback_users = none",
    `default_user = ${auth.user}`,
    `default_pass = ${auth.password}`,
    "log.console = true",
    "log.console.level = info",
    "log.file = false",
    // a small node: tests, not production
    "vm_memory_high_watermark.relative = 0.2",
    "disk_free_limit.absolute = 50MB",
    extraConf(),
  ]
  writeFileSync(join(dir, "rabbitmq.conf"), `${conf.join("\n")}\n`)
  writeFileSync(join(dir, "enabled_plugins"), "[].\n")
  writeFileSync(join(dir, "rabbitmq-env.conf"), "")
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: "C.UTF-8",
    HOME: home,
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_LOGS: "-",
    ERL_EPMD_ADDRESS: "127.0.0.1",
    // the distribution port too listens on loopback only
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  }
  const urlWith: Launcher["urlWith"] = (change) => {
    const useTls = change.tls ?? options.tls === true
    const creds = change.credentials === undefined ? auth : change.credentials
    return buildUrl(useTls ? "amqps" : "amqp", "127.0.0.1", change.port ?? port, creds)
  }
  const start = async (): Promise<void> => {
    if (!existsSync(SERVER)) throw new Error(`${SERVER} not found (RabbitMQ not installed)`)
    const mark = proc.mark()
    proc.spawn({ command: SERVER, args: [], env, cwd: dir })
    await waitUntil(() => proc.since(mark).includes("Server startup complete"), 60_000, `private RabbitMQ node ${node} on ${port}`, () => proc.failure(mark))
  }
  return launcherFor({ kind: "rabbitmq", port, dir, options, tls: tls, proc, start, urlWith, shutdownMs: 30000 })

}
