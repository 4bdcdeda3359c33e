/**
 * The operations view's routes: a group's dead letters (list, one decoded,
 * replay one or all, purge) through the bus's dead-letter API on the events
 * broker, the Poison switch (RPC to payroll, ../subscribers/poison.ts), and
 * the Activity page with its Server-Sent Events stream (activity-stream.ts).
 */
import { codecs, NoResponders, RequestTimeout, type Bus, type DeadLetterRecord } from "@omnibus/core"
import type { ActivityReporter } from "../activity/reporter.ts"
import { EmployeeMessageCodec } from "../contracts/employee.generated.ts"
import { PoisonSwitch } from "../subscribers/poison.ts"
import type { ActivityStreams } from "./activity-stream.ts"
import { decodeSegment, type Exchange } from "./exchange.ts"
import { HttpError, notFound } from "./http-error.ts"
import { activityPage, DEAD_LETTER_GROUPS, deadLetterPage, deadLettersPage, type DeadLetterGroup, type DecodedPayload, type PoisonView } from "./operations-views.ts"

export interface OperationsOptions {
  readonly rpc: Bus
  /** Where the groups' dead letters are. */
  readonly events: Bus
  readonly activity: ActivityReporter
  readonly streams: ActivityStreams
  readonly requestTimeoutMs: number
}

/** Rows on the list page. */
const LIST_LIMIT = 100

const DEAD_LETTER_PATH = /^\/dead-letters\/([^/]+)(?:\/([^/]+))?$/

const isGroup = (s: string): s is DeadLetterGroup => (DEAD_LETTER_GROUPS as ReadonlyArray<string>).includes(s)

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`

const base64 = (body: Uint8Array): string => Buffer.from(body).toString("base64")

/** The payload for people: the employee codec when the content type is its, else by content type (JSON, text, bytes). */
export const decodePayload = (d: Pick<DeadLetterRecord, "body" | "contentType">): DecodedPayload => {
  try {
    if (codecs.contentTypeFits(EmployeeMessageCodec, d.contentType)) return { as: "EmployeeMessage (protobuf)", text: JSON.stringify(EmployeeMessageCodec.decode(d.body), null, 2) }
    const value = codecs.byContentType(d.contentType).decode(d.body)
    if (value instanceof Uint8Array) return { as: "bytes, shown as base64", text: base64(value) }
    return typeof value === "string" ? { as: "text", text: value } : { as: "JSON", text: JSON.stringify(value, null, 2) }
  } catch (e) {
    return { as: `nothing: it does not decode (${e instanceof Error ? e.message : String(e)}); the bytes as base64`, text: base64(d.body) }
  }
}

const payrollUnavailable = (e: unknown): HttpError | undefined =>
  e instanceof NoResponders || e instanceof RequestTimeout
    ? new HttpError(503, "Payroll unavailable", "No payroll instance answered, so the Poison switch cannot be read or changed right now. Please try again in a moment.")
    : undefined

/** Handles the request when it is one of these pages; false = not ours. */
export const operationsRoutes = (options: OperationsOptions) => {
  const { events, rpc, activity, streams } = options
  const timeout = options.requestTimeoutMs

  const poisonView = async (): Promise<PoisonView> => {
    try {
      return await rpc.request(PoisonSwitch.get, {}, { timeout })
    } catch (e) {
      return { unavailable: payrollUnavailable(e)?.message ?? (e instanceof Error ? e.message : String(e)) }
    }
  }

  /** Replays the listed dead letters (one id, or every one) and reports each as "replayed". */
  const replay = async (group: DeadLetterGroup, id: string | undefined): Promise<string> => {
    const letters = await events.deadLetters.list(group)
    const chosen = id === undefined ? letters : letters.filter((d) => d.id === id)
    if (chosen.length === 0) return id === undefined ? `Group ${group} has no dead letters to replay.` : `Dead letter ${id} is not in group ${group} (any more).`
    const replayed = await events.deadLetters.replay(group, { ids: chosen.map((d) => d.id) })
    for (const d of chosen) activity.report({ type: "replayed", id: d.id, routingKey: d.routingKey, group })
    return `Replayed ${plural(replayed, "dead letter")} to group ${group}.`
  }

  return async (x: Exchange): Promise<boolean> => {
    const { path, method } = x
    if (method === "GET" && path === "/activity") {
      x.send(200, activityPage(x.ctx))
      return true
    }
    if (method === "GET" && path === "/activity/events") {
      streams.serve(x.req, x.res)
      return true
    }
    if (method === "GET" && path === "/dead-letters") {
      x.redirect("/dead-letters/payroll")
      return true
    }

    const m = DEAD_LETTER_PATH.exec(path)
    if (m === null) return false
    const group = decodeSegment(m[1]!)
    if (!isGroup(group)) throw notFound()
    const rest = m[2] === undefined ? undefined : decodeSegment(m[2])

    if (method === "GET" && rest === undefined) {
      const [letters, poison] = await Promise.all([events.deadLetters.list(group, { limit: LIST_LIMIT }), group === "payroll" ? poisonView() : undefined])
      x.send(200, deadLettersPage(x.ctx, group, letters, LIST_LIMIT, poison))
      return true
    }
    if (method === "GET" && rest !== undefined) {
      const found = (await events.deadLetters.list(group)).find((d) => d.id === rest)
      if (found === undefined) throw new HttpError(404, "Dead letter not found", `There is no dead letter ${rest} in group ${group}. It may have been replayed or purged.`)
      x.send(200, deadLetterPage(x.ctx, group, found, decodePayload(found)))
      return true
    }
    if (method !== "POST") return false
    if (rest === "replay") {
      const form = await x.postedForm()
      x.redirect(`/dead-letters/${group}`, await replay(group, form.get("id") ?? undefined))
      return true
    }
    if (rest === "purge") {
      await x.postedForm()
      const purged = await events.deadLetters.purge(group)
      x.redirect(`/dead-letters/${group}`, `Purged ${plural(purged, "dead letter")} of group ${group}.`)
      return true
    }
    if (rest === "poison-switch" && group === "payroll") {
      const form = await x.postedForm()
      const enabled = form.get("enabled") === "on"
      let state: { readonly enabled: boolean }
      try {
        state = await rpc.request(PoisonSwitch.set, { enabled }, { timeout })
      } catch (e) {
        throw payrollUnavailable(e) ?? e
      }
      x.redirect("/dead-letters/payroll", `The Poison switch is ${state.enabled ? "on" : "off"}.`)
      return true
    }
    return false
  }
}
