/** The layout and the Rails scaffold's pages, as functions of plain data. Every value goes through html(), which escapes it. */
import type { EmployeeMessage } from "../contracts/employee.generated.ts"
import { CSRF_FIELD } from "./csrf.ts"
import { html, segment, type SafeHtml } from "./html.ts"

export interface PageContext {
  readonly notice: string | undefined
  readonly csrf: string
  /** Shown in the footer: which config the platform runs. */
  readonly configName: string
  /** The adapters carrying RPC and events ("nats", "rabbitmq", …). */
  readonly transport: string
  readonly eventsTransport: string
}

/** Every form that posts carries the CSRF token (csrf.ts checks it). */
export const csrfField = (ctx: PageContext): SafeHtml => html`<input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">`

const NAV = [["/employees", "Employees"], ["/dead-letters", "Dead letters"], ["/activity", "Activity"]] as const

/** `script` names a page's own script in /assets/, besides app.js. */
export const layout = (ctx: PageContext, title: string, body: SafeHtml, script?: string): SafeHtml => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Employees</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
${script !== undefined && html`<script src="/assets/${script}" defer></script>`}
</head>
<body>
<nav>${NAV.map(([path, name]) => html`<a href="${path}">${name}</a>`)}</nav>
<main>
${ctx.notice !== undefined && html`<p id="notice" class="notice" role="status">${ctx.notice}</p>`}
${body}
</main>
<footer>Omnibus employee example · config <code>${ctx.configName}</code> · RPC over <code>${ctx.transport}</code> · events over <code>${ctx.eventsTransport}</code></footer>
</body>
</html>
`

const href = (guid: string, suffix = ""): string => `/employees/${segment(guid)}${suffix}`

const destroyButton = (ctx: PageContext, guid: string): SafeHtml => html`<form class="inline" method="post" action="${href(guid, "/delete")}" data-confirm="Are you sure?">
${csrfField(ctx)}<button type="submit" class="link danger">Destroy</button></form>`

export interface SearchFilter {
  readonly firstName: string
  readonly lastName: string
}

export const indexPage = (ctx: PageContext, employees: ReadonlyArray<EmployeeMessage>, filter: SearchFilter): SafeHtml =>
  layout(ctx, "Employees", html`<h1>Employees</h1>
<form class="search" method="get" action="/employees">
<label>First name <input name="first_name" value="${filter.firstName}"></label>
<label>Last name <input name="last_name" value="${filter.lastName}"></label>
<button type="submit">Search</button>${(filter.firstName || filter.lastName) && html` <a href="/employees">Clear</a>`}
</form>
<table>
<thead><tr><th>First name</th><th>Last name</th><th>Guid</th><th colspan="3"></th></tr></thead>
<tbody>
${employees.length === 0 ? html`<tr><td colspan="6" class="empty">No employees${(filter.firstName || filter.lastName) && " match"}.</td></tr>` : employees.map((e) => html`<tr data-guid="${e.guid ?? ""}">
<td>${e.firstName}</td><td>${e.lastName}</td><td><code>${e.guid}</code></td>
<td><a href="${href(e.guid ?? "")}">Show</a></td><td><a href="${href(e.guid ?? "", "/edit")}">Edit</a></td><td>${destroyButton(ctx, e.guid ?? "")}</td>
</tr>
`)}
</tbody>
</table>
<p><a class="button" href="/employees/new">New Employee</a></p>`)

export const showPage = (ctx: PageContext, e: EmployeeMessage): SafeHtml =>
  layout(ctx, `${e.firstName ?? ""} ${e.lastName ?? ""}`, html`<h1>Employee</h1>
<dl>
<dt>Guid</dt><dd><code id="guid">${e.guid}</code></dd>
<dt>First name</dt><dd id="first_name">${e.firstName}</dd>
<dt>Last name</dt><dd id="last_name">${e.lastName}</dd>
</dl>
<p><a href="${href(e.guid ?? "", "/edit")}">Edit</a> | <a href="/employees">Back</a> | ${destroyButton(ctx, e.guid ?? "")}</p>`)

export interface FormState {
  readonly guid: string
  readonly firstName: string
  readonly lastName: string
  readonly errors: ReadonlyArray<string>
}

export const formPage = (ctx: PageContext, mode: "new" | "edit", f: FormState): SafeHtml => {
  const action = mode === "new" ? "/employees" : href(f.guid)
  return layout(ctx, mode === "new" ? "New Employee" : "Editing Employee", html`<h1>${mode === "new" ? "New Employee" : "Editing Employee"}</h1>
${f.errors.length > 0 && html`<div id="error_explanation" role="alert"><h2>${f.errors.length} ${f.errors.length === 1 ? "error" : "errors"} prohibited this employee from being saved:</h2>
<ul>${f.errors.map((e) => html`<li>${e}</li>`)}</ul></div>`}
<form method="post" action="${action}" class="employee">
${csrfField(ctx)}
<label for="employee_guid">Guid</label>
<input id="employee_guid" name="guid" value="${f.guid}" readonly>
<label for="employee_first_name">First name</label>
<input id="employee_first_name" name="first_name" value="${f.firstName}" maxlength="200" required>
<label for="employee_last_name">Last name</label>
<input id="employee_last_name" name="last_name" value="${f.lastName}" maxlength="200" required>
<button type="submit">${mode === "new" ? "Create Employee" : "Update Employee"}</button>
</form>
<p>${mode === "edit" && html`<a href="${href(f.guid)}">Show</a> | `}<a href="/employees">Back</a></p>`)
}

export const errorPage = (ctx: PageContext, status: number, title: string, message: string): SafeHtml =>
  layout(ctx, title, html`<h1>${title}</h1>
<p class="error" data-status="${status}">${message}</p>
<p><a href="/employees">Back to the employees</a></p>`)
