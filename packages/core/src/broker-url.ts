/**
 * Broker URLs as adapters read them, with typed errors that never show
 * credentials: the scheme check, and the host list of a cluster URL
 * (`amqp://u:p@h1,h2:5673,h3/vh`), which URL() cannot parse, together with
 * a host-list option (`hosts`, `servers`) in the same host[:port] syntax.
 */
import { InvalidOptions, InvalidUrl, redactUrl } from "./errors.ts"

/**
 * Parses a broker URL and checks its scheme. Adapters call this (or
 * parseClusterUrl) first in their factory.
 */
export const parseBrokerUrl = (url: string, schemes: ReadonlyArray<string>): URL => {
  const safe = redactUrl(url)
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new InvalidUrl({ url: safe, reason: "cannot be parsed" })
  }
  const scheme = u.protocol.replace(/:$/, "").toLowerCase()
  if (!schemes.includes(scheme)) throw new InvalidUrl({ url: safe, reason: `scheme "${scheme}:" is not ${schemes.map((s) => `${s}:`).join(" or ")}` })
  return u
}

/** One node of a host list: `hostname` as URL() gives it (an IPv6 literal in brackets), `port` "" when not given. */
export interface BrokerHost {
  readonly hostname: string
  readonly port: string
}

/** `host[:port]` (or `scheme://host[:port]`); undefined when it is anything more or less. */
const parseHost = (text: string, scheme: string): BrokerHost | undefined => {
  const t = text.trim()
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `${scheme}://${t}`)
    if (!u.hostname || u.pathname.length > 1 || u.username || u.password || u.search || u.hash) return undefined
    return { hostname: u.hostname, port: u.port }
  } catch {
    return undefined
  }
}

/**
 * A URL whose authority may name several hosts, comma-separated (a cluster's nodes): parsed
 * with its first host (credentials, path and query come from it once), and every host listed.
 */
export const parseClusterUrl = (url: string, schemes: ReadonlyArray<string>): { readonly url: URL; readonly hosts: ReadonlyArray<BrokerHost> } => {
  const m = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#]*)(.*)$/is.exec(url)
  const list = m?.[2]?.includes(",") ? m[2].split(",").map((h) => h.trim()) : []
  if (list.some((h) => h.length === 0)) throw new InvalidUrl({ url: redactUrl(url), reason: "has an empty host in its host list" })
  const parsed = parseBrokerUrl(list.length > 0 ? `${m![1]}${list[0]}${m![3]}` : url, schemes)
  const scheme = parsed.protocol.replace(/:$/, "")
  const hosts: Array<BrokerHost> = [{ hostname: parsed.hostname, port: parsed.port }]
  for (const h of list.slice(1)) {
    const host = parseHost(h, scheme)
    if (host === undefined) throw new InvalidUrl({ url: redactUrl(url), reason: `host "${h}" is not host[:port]` })
    hosts.push(host)
  }
  return { url: parsed, hosts }
}

/** A host-list option: host[:port] strings, as an array or one comma-separated string; [] when not given. */
export const hostListOption = (option: string, value: unknown, scheme: string): ReadonlyArray<BrokerHost> => {
  if (value === undefined) return []
  const list: ReadonlyArray<unknown> | undefined = typeof value === "string" ? value.split(",") : Array.isArray(value) ? value : undefined
  const hosts = (list ?? []).map((h) => (typeof h === "string" ? parseHost(h, scheme) : undefined))
  if (list === undefined || hosts.length === 0 || hosts.some((h) => h === undefined)) {
    throw new InvalidOptions({ option, reason: "must be host[:port] strings (an array or comma-separated)" })
  }
  return hosts as Array<BrokerHost>
}

/** `host:port`, with `defaultPort` when the host has none. */
export const hostPort = (host: BrokerHost, defaultPort: number): string => `${host.hostname}:${host.port || defaultPort}`
