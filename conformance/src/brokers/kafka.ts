/**
 * A private single-node Kafka (KRaft, combined broker + controller) from the
 * jars `scripts/kafka.sh fetch` resolves from Maven Central (the script's own
 * `start` runs one shared broker per checkout; this launcher runs one per
 * suite, on its own ports and log dir, so it can be killed and restarted).
 *
 * Listeners: CLIENT (what tests connect to: PLAINTEXT, SSL, SASL_PLAINTEXT
 * or SASL_SSL with PLAIN, by the launch options), PROXIED (same security,
 * advertised at a port reserved for a TcpProxy, see below), INTERNAL
 * (inter-broker, plaintext) and CONTROLLER. TLS uses PEM key/trust stores
 * made from the launcher's certificates.
 *
 * Kafka clients connect to the addresses the broker advertises, not to the
 * bootstrap address: a proxy on a random port would carry only the
 * bootstrap connection. So the launcher picks the proxy's port up front,
 * advertises it on the PROXIED listener and registers it with
 * `registerProxyFront`: `TcpProxy.start(launcher.port)` listens there and
 * forwards to PROXIED, whose metadata sends the client back to the proxy.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { registerProxyFront } from "../proxy.ts"
import { BrokerProcess, buildUrl, freePorts, makeCertificates, makeTempDir, removeDir, waitUntil, launcherFor } from "./common.ts"
import type { Credentials, LaunchOptions, Launcher } from "./common.ts"

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
/** The Kafka release launched (scripts/kafka.sh has the same default; scripts/matrix/brokers.sh sets others). */
export const KAFKA_VERSION = process.env.OMNIBUS_KAFKA_VERSION ?? "4.1.1"

/**
 * The broker classpath: a Kafka distribution's `libs/` when KAFKA_HOME names
 * one (how an app outside this repository runs the local fallback of
 * @omnibus/testing), else the jars scripts/kafka.sh resolves from Maven
 * Central in this repository (fetched when missing).
 */
const classpath = async (): Promise<string> => {
  const home = process.env.KAFKA_HOME
  if (home) {
    if (!existsSync(join(home, "libs"))) throw new Error(`KAFKA_HOME=${home} has no libs/ folder (expected an Apache Kafka distribution)`)
    return `${join(home, "libs")}/*`
  }
  const script = join(ROOT, "scripts", "kafka.sh")
  if (!existsSync(script)) {
    throw new Error("no Kafka to launch: set KAFKA_HOME to an Apache Kafka distribution (its libs/ holds the jars), or run Kafka in Docker")
  }
  const lib = join(ROOT, ".omnibus", "kafka", KAFKA_VERSION, "lib")
  if (!existsSync(join(lib, ".complete"))) {
    await run("bash", [script, "fetch"], { timeout: 600_000, env: { ...process.env, OMNIBUS_KAFKA_VERSION: KAFKA_VERSION } })
  }
  return `${lib}/*`
}

export const launchKafka = async (options: LaunchOptions = {}): Promise<Launcher> => {
  const dir = makeTempDir("kafka")
  const [port, internalPort, controllerPort, proxiedPort, proxyPort] = (await freePorts(5)) as [number, number, number, number, number]
  const tls = options.tls ? await makeCertificates(dir) : undefined
  const proc = new BrokerProcess(dir)
  const data = join(dir, "data")
  mkdirSync(data)
  const protocol = options.auth ? (tls ? "SASL_SSL" : "SASL_PLAINTEXT") : tls ? "SSL" : "PLAINTEXT"
  const props = [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=CLIENT://127.0.0.1:${port},PROXIED://127.0.0.1:${proxiedPort},INTERNAL://127.0.0.1:${internalPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=CLIENT://127.0.0.1:${port},PROXIED://127.0.0.1:${proxyPort},INTERNAL://127.0.0.1:${internalPort}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=INTERNAL",
    `listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,CLIENT:${protocol},PROXIED:${protocol}`,
    `log.dirs=${data}`,
    "num.partitions=3",
    "auto.create.topics.enable=true",
    "delete.topic.enable=true",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=4",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    "group.min.session.timeout.ms=500",
    // as scripts/kafka.sh: offset commits are not held back to batch them
    "group.coordinator.append.linger.ms=0",
    "message.max.bytes=10485760",
    "replica.fetch.max.bytes=10485760",
    // every write on disk before the ack: a kill -9 keeps what was acknowledged
    "log.flush.interval.messages=1",
  ]
  if (tls) {
    // PEM stores: key (PKCS#8) + certificate in one file; the CA as trust store
    writeFileSync(join(dir, "keystore.pem"), `${readFileSync(tls.keyFile, "utf8")}\n${readFileSync(tls.certFile, "utf8")}`)
    for (const l of ["client", "proxied"]) {
      props.push(
        `listener.name.${l}.ssl.keystore.type=PEM`,
        `listener.name.${l}.ssl.keystore.location=${join(dir, "keystore.pem")}`,
        `listener.name.${l}.ssl.truststore.type=PEM`,
        `listener.name.${l}.ssl.truststore.location=${tls.caFile}`,
        `listener.name.${l}.ssl.client.auth=none`,
      )
    }
  }
  if (options.auth) {
    const { user, password } = options.auth
    const q = (s: string) => JSON.stringify(s)
    props.push("sasl.enabled.mechanisms=PLAIN")
    for (const l of ["client", "proxied"]) {
      props.push(`listener.name.${l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=${q(user)} password=${q(password)} user_${user}=${q(password)};`)
    }
  }
  writeFileSync(join(dir, "server.properties"), `${props.join("\n")}\n`)
  const cp = await classpath()
  const jvm = [
    "-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
    "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
    "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.security.authenticator=info",
    "-cp", cp,
  ]
  // never an id starting with "-": kafka-storage's argument parser would take it for an option
  let cluster = "-"
  while (cluster.startsWith("-")) cluster = randomBytes(16).toString("base64url").slice(0, 22)
  await run("java", [...jvm, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", join(dir, "server.properties")], { timeout: 120_000 })
  const urlWith: Launcher["urlWith"] = (change) => {
    const useTls = change.tls ?? options.tls === true
    const creds: Credentials | null | undefined = change.credentials === undefined ? options.auth : change.credentials
    const query = [creds ? "sasl=plain" : "", useTls ? "tls=true" : ""].filter(Boolean).join("&")
    return buildUrl("kafka", "127.0.0.1", change.port ?? port, creds, query ? `?${query}` : "")
  }
  const start = async (): Promise<void> => {
    const mark = proc.mark()
    proc.spawn({ command: "java", args: [...jvm, "kafka.Kafka", join(dir, "server.properties")], cwd: dir })
    await waitUntil(() => proc.since(mark).includes("Kafka Server started"), 120_000, `private Kafka on ${port}`, () => proc.failure(mark))
  }
  const release = registerProxyFront(port, { listenPort: proxyPort, targetPort: proxiedPort })
  const launcher = launcherFor({ kind: "kafka", port, dir, options, tls: tls, proc, start, urlWith, shutdownMs: 30000 })
  const stop = launcher.stop
  // (assigned, not spread: `pid` and `running` are getters)
  return Object.assign(launcher, { stop: async () => { release(); await stop() } })

}
