/**
 * The web app (the book's Rails scaffold): list, show, new, edit and destroy
 * employees, with flash notices. It talks to the employee service only by
 * RPC; when the service is down or slow the pages say so (503) instead of
 * hanging or crashing.
 */
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { BrokerError, BusClosed, codecs, NoResponders, PublishFailed, RemoteError, RequestTimeout, type Bus, type Subscription } from "@omnibus/core"
import { ActivityFeed } from "../activity/feed.ts"
import { ACTIVITY_KEY, parseActivity } from "../activity/event.ts"
import { activityReporter } from "../activity/reporter.ts"
import { openBuses, type Buses } from "../buses.ts"
import type { Component, Log } from "../component.ts"
import type { PlatformConfig } from "../config.ts"
import type { EmployeeMessage } from "../contracts/employee.generated.ts"
import { ActivityStreams } from "./activity-stream.ts"
import { EmployeeClient } from "./client.ts"
import { csrfToken, csrfValid } from "./csrf.ts"
import { decodeSegment, type Exchange } from "./exchange.ts"
import { FlashStore } from "./flash.ts"
import type { SafeHtml } from "./html.ts"
import { HttpError, notFound } from "./http-error.ts"
import { operationsRoutes } from "./operations.ts"
import { BodyTooLarge, parseCookies, readForm } from "./request.ts"
import { errorPage, formPage, indexPage, showPage, type FormState, type PageContext } from "./views.ts"

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url))
const ASSETS: ReadonlyMap<string, { readonly body: Buffer; readonly type: string }> = new Map([
  ["/assets/app.css", { body: asset("app.css"), type: "text/css; charset=utf-8" }],
  ["/assets/app.js", { body: asset("app.js"), type: "text/javascript; charset=utf-8" }],
  ["/assets/activity.js", { body: asset("activity.js"), type: "text/javascript; charset=utf-8" }],
])

// Defence in depth behind escaping: no inline script can run even if some output were not escaped.
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
} as const

export interface WebAppOptions {
  /** The RPC connection (employee service, payroll's Poison switch). */
  readonly bus: Bus
  /** The events connection: the groups' dead letters, and where "replayed" is reported. */
  readonly events: Bus
  readonly streams: ActivityStreams
  readonly configName: string
  readonly requestTimeoutMs: number
  readonly log: Log
}

/** What the user sees when a request to the service fails. */
const failurePage = (e: unknown): HttpError => {
  if (e instanceof HttpError) return e
  if (e instanceof NoResponders) return new HttpError(503, "Employee service unavailable", "No employee service is running right now, so this page cannot be shown. Please try again in a moment.")
  if (e instanceof RequestTimeout) return new HttpError(503, "Employee service timed out", `The employee service did not answer within ${e.timeoutMs} ms. Please try again in a moment.`)
  if (e instanceof RemoteError && e.code === "not_found") return new HttpError(404, "Employee not found", "There is no employee with that guid. It may have been deleted.")
  if (e instanceof BusClosed || e instanceof PublishFailed || e instanceof BrokerError) return new HttpError(503, "Message broker unavailable", "The web app cannot reach the message broker right now. Please try again in a moment.")
  if (e instanceof BodyTooLarge) return new HttpError(413, "Request too large", "The form was too large.")
  return new HttpError(500, "Something went wrong", "The request failed. The error has been logged.")
}

/** The service's validation errors (RemoteError code "invalid"/"exists") are shown on the form. */
const formError = (e: unknown): string | undefined =>
  e instanceof RemoteError && (e.code === "invalid" || e.code === "exists") ? e.remoteMessage : undefined

const guidPattern = /^\/employees\/([^/]+)(\/edit|\/delete)?$/

const text = (form: URLSearchParams, name: string): string => form.get(name) ?? ""

export const createWebApp = (options: WebAppOptions) => {
  const client = new EmployeeClient(options.bus, options.requestTimeoutMs)
  const flash = new FlashStore()
  const operations = operationsRoutes({
    rpc: options.bus,
    events: options.events,
    activity: activityReporter(options.events, "web", options.log),
    streams: options.streams,
    requestTimeoutMs: options.requestTimeoutMs,
  })

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const cookies = parseCookies(req.headers.cookie)
    const csrf = csrfToken(cookies)
    const notice = req.method === "GET" ? flash.take(cookies) : { text: undefined, clear: undefined }
    const setCookies = [csrf.setCookie, notice.clear].filter((c): c is string => c !== undefined)
    const ctx: PageContext = { notice: notice.text, csrf: csrf.token, configName: options.configName, transport: options.bus.transport, eventsTransport: options.events.transport }

    const send = (status: number, page: SafeHtml): void => {
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...SECURITY_HEADERS, ...(setCookies.length > 0 ? { "set-cookie": setCookies } : {}) })
      res.end(page.value)
    }
    const redirect = (location: string, message?: string): void => {
      const cookiesOut = [...setCookies, ...(message === undefined ? [] : [flash.set(message)])]
      res.writeHead(303, { location, ...(cookiesOut.length > 0 ? { "set-cookie": cookiesOut } : {}) })
      res.end()
    }
    const postedForm = async (): Promise<URLSearchParams> => {
      const form = await readForm(req)
      if (!csrfValid(cookies, form)) throw new HttpError(422, "Invalid form", "The form has expired or did not come from this site. Please reload the page and try again.")
      return form
    }
    const found = async (guid: string): Promise<EmployeeMessage> => {
      const e = await client.find(guid)
      if (e === undefined) throw new HttpError(404, "Employee not found", "There is no employee with that guid. It may have been deleted.")
      return e
    }

    try {
      const url = new URL(req.url ?? "/", "http://localhost")
      const path = url.pathname
      const method = req.method ?? "GET"
      const staticAsset = ASSETS.get(path)
      if (method === "GET" && staticAsset !== undefined) {
        res.writeHead(200, { "content-type": staticAsset.type, "cache-control": "max-age=300", ...SECURITY_HEADERS })
        res.end(staticAsset.body)
        return
      }
      if (method === "GET" && path === "/") return redirect("/employees")
      const exchange: Exchange = { req, res, method, path, url, ctx, send, redirect, postedForm }
      if (await operations(exchange)) return

      if (path === "/employees" && method === "GET") {
        const filter = { firstName: url.searchParams.get("first_name") ?? "", lastName: url.searchParams.get("last_name") ?? "" }
        const employees = await client.search({
          ...(filter.firstName !== "" ? { firstName: filter.firstName } : {}),
          ...(filter.lastName !== "" ? { lastName: filter.lastName } : {}),
        })
        return send(200, indexPage(ctx, employees, filter))
      }
      if (path === "/employees/new" && method === "GET") {
        return send(200, formPage(ctx, "new", { guid: crypto.randomUUID(), firstName: "", lastName: "", errors: [] }))
      }
      if (path === "/employees" && method === "POST") {
        const form = await postedForm()
        const state: FormState = { guid: text(form, "guid"), firstName: text(form, "first_name"), lastName: text(form, "last_name"), errors: [] }
        try {
          const e = await client.create({ guid: state.guid, firstName: state.firstName, lastName: state.lastName })
          return redirect(`/employees/${encodeURIComponent(e.guid ?? state.guid)}`, "Employee was successfully created.")
        } catch (err) {
          const problem = formError(err)
          if (problem === undefined) throw err
          return send(422, formPage(ctx, "new", { ...state, errors: [problem] }))
        }
      }

      const m = guidPattern.exec(path)
      if (m !== null && m[1] !== "new") {
        const guid = decodeSegment(m[1]!)
        const action = m[2]
        if (action === undefined && method === "GET") return send(200, showPage(ctx, await found(guid)))
        if (action === "/edit" && method === "GET") {
          const e = await found(guid)
          return send(200, formPage(ctx, "edit", { guid, firstName: e.firstName ?? "", lastName: e.lastName ?? "", errors: [] }))
        }
        if (action === undefined && method === "POST") {
          const form = await postedForm()
          const state: FormState = { guid, firstName: text(form, "first_name"), lastName: text(form, "last_name"), errors: [] }
          try {
            await client.update({ guid, firstName: state.firstName, lastName: state.lastName })
            return redirect(`/employees/${encodeURIComponent(guid)}`, "Employee was successfully updated.")
          } catch (err) {
            const problem = formError(err)
            if (problem === undefined) throw err
            return send(422, formPage(ctx, "edit", { ...state, errors: [problem] }))
          }
        }
        if (action === "/delete" && method === "POST") {
          await postedForm()
          await client.destroy(guid)
          return redirect("/employees", "Employee was successfully destroyed.")
        }
      }
      throw notFound()
    } catch (e) {
      const page = failurePage(e)
      // A stream (Activity) that failed after its headers went out cannot become an error page.
      if (res.headersSent) return void res.end()
      if (page.status >= 500) options.log(`${req.method} ${req.url}: ${page.status} ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
      send(page.status, errorPage(ctx, page.status, page.title, page.message))
    }
  }
}

export interface WebServer extends Component {
  /** e.g. http://localhost:3002/employees */
  readonly url: string
}

/** The connections the web app uses; a process that has them already (a test) passes them to startWeb. */
export type WebBuses = Pick<Buses, "rpc" | "events">

/**
 * Serves the app on config.port, on `given` buses or on ones opened from the config. The Activity feed
 * listens before the port opens: an ephemeral subscription, so every web process sees every activity
 * event and none is taken from a group.
 */
export const startWeb = async (config: PlatformConfig, log: Log, given?: WebBuses): Promise<WebServer> => {
  const opened = given === undefined ? await openBuses(config) : undefined
  const buses: WebBuses = given ?? opened!
  const feed = new ActivityFeed()
  const streams = new ActivityStreams(feed)
  const app = createWebApp({ bus: buses.rpc, events: buses.events, streams, configName: config.name, requestTimeoutMs: config.requestTimeoutMs, log })
  const server: Server = createServer((req, res) => void app(req, res))
  let activity: Subscription | undefined
  const release = async () => {
    await activity?.close()
    await opened?.close()
  }
  try {
    activity = await buses.events.subscribe<unknown>(ACTIVITY_KEY, (m) => {
      const event = parseActivity(m.payload)
      if (event !== undefined) feed.add(event)
    }, { codec: codecs.json, retry: false, deadLetter: false })
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(config.port, () => resolve())
    })
  } catch (e) {
    await release()
    throw e
  }
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : config.port
  return {
    url: `http://localhost:${port}/employees`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      streams.closeAll()
      server.closeIdleConnections()
      // Requests in flight get a moment to finish; then sockets a browser keeps open (preconnects) are cut.
      const cut = setTimeout(() => server.closeAllConnections(), 2_000)
      await closed
      clearTimeout(cut)
      await release()
    },
  }
}
