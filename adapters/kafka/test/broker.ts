/**
 * The broker under test: OMNIBUS_KAFKA_URL, or a local KRaft broker started
 * by scripts/kafka.sh (fetched from Maven Central on first use, then reused).
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

export const kafkaUrl = (): string => {
  const fromEnv = process.env.OMNIBUS_KAFKA_URL
  if (fromEnv) return fromEnv
  const script = fileURLToPath(new URL("../../../scripts/kafka.sh", import.meta.url))
  const out = execFileSync("bash", [script, "start"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 300_000 })
  const m = /OMNIBUS_KAFKA_URL=(\S+)/.exec(out)
  if (!m) throw new Error(`scripts/kafka.sh start printed no URL: ${out}`)
  process.env.OMNIBUS_KAFKA_URL = m[1]
  return m[1]!
}
