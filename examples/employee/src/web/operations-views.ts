/** The operations pages: a group's dead letters, one dead letter, and the live Activity table. */
import type { DeadLetterRecord } from "@omnibus/core"
import { ACTIVITY_CAPACITY } from "../activity/feed.ts"
import { POISON_LAST_NAME } from "../subscribers/poison.ts"
import { html, segment, type SafeHtml } from "./html.ts"
import { csrfField, layout, type PageContext } from "./views.ts"

/** The groups whose dead letters the pages show. */
export const DEAD_LETTER_GROUPS = ["payroll", "audit"] as const
export type DeadLetterGroup = (typeof DEAD_LETTER_GROUPS)[number]

/** The Poison switch as payroll reported it, or why it could not. */
export type PoisonView = { readonly enabled: boolean } | { readonly unavailable: string }

/** A payload as the page shows it. */
export interface DecodedPayload {
  /** What decoded it ("EmployeeMessage (protobuf)", "JSON", …). */
  readonly as: string
  readonly text: string
}

/** UTC, to the millisecond, with a space where a narrow column may break it. */
const time = (ms: number): SafeHtml => {
  const iso = new Date(ms).toISOString()
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 23)}</time>`
}
const groupPath = (group: string, suffix = ""): string => `/dead-letters/${segment(group)}${suffix}`

const postButton = (ctx: PageContext, action: string, label: string, fields: SafeHtml | false = false, attributes: { readonly confirm?: string; readonly destructive?: boolean } = {}): SafeHtml =>
  html`<form class="inline" method="post" action="${action}"${attributes.confirm !== undefined && html` data-confirm="${attributes.confirm}"`}>${csrfField(ctx)}${fields}<button type="submit"${attributes.destructive === true && html` class="destructive"`}>${label}</button></form>`

const idField = (id: string): SafeHtml => html`<input type="hidden" name="id" value="${id}">`
const enabledField = (enabled: "on" | "off"): SafeHtml => html`<input type="hidden" name="enabled" value="${enabled}">`

const groupTabs = (current: DeadLetterGroup): SafeHtml =>
  html`<p class="tabs">Group: ${DEAD_LETTER_GROUPS.map((g) => (g === current ? html`<strong aria-current="page">${g}</strong> ` : html`<a href="${groupPath(g)}">${g}</a> `))}</p>`

const poisonSwitch = (ctx: PageContext, poison: PoisonView): SafeHtml => {
  if ("unavailable" in poison) {
    return html`<section id="poison-switch" class="switch" data-enabled="unknown"><h2>Poison switch: unknown</h2><p>Payroll did not answer: ${poison.unavailable}</p></section>`
  }
  const toggle = enabledField(poison.enabled ? "off" : "on")
  return html`<section id="poison-switch" class="switch${poison.enabled ? " on" : ""}" data-enabled="${String(poison.enabled)}">
<h2>Poison switch: ${poison.enabled ? "on" : "off"}</h2>
<p>${poison.enabled
    ? html`Payroll refuses every employee whose last name is “${POISON_LAST_NAME}”: each such event is retried, then dead-lettered here. Turn the switch off, then replay.`
    : html`Payroll takes employees named “${POISON_LAST_NAME}” like anyone else; replayed dead letters go through.`}</p>
${postButton(ctx, groupPath("payroll", "/poison-switch"), poison.enabled ? "Turn the Poison switch off" : "Turn the Poison switch on", toggle)}
</section>`
}

export const deadLettersPage = (ctx: PageContext, group: DeadLetterGroup, letters: ReadonlyArray<DeadLetterRecord>, limit: number, poison: PoisonView | undefined): SafeHtml =>
  layout(ctx, `Dead letters of ${group}`, html`<h1>Dead letters</h1>
${groupTabs(group)}
${poison !== undefined && poisonSwitch(ctx, poison)}
<table id="dead-letters" data-group="${group}">
<thead><tr><th>Id</th><th>Routing key</th><th>Error</th><th>Message</th><th>Attempts</th><th>First failure (UTC)</th><th>Last failure (UTC)</th><th></th></tr></thead>
<tbody>
${letters.length === 0
    ? html`<tr><td colspan="8" class="empty">No dead letters in group ${group}.</td></tr>`
    : letters.map((d) => html`<tr data-id="${d.id}">
<td><a href="${groupPath(group, `/${segment(d.id)}`)}"><code>${d.id}</code></a></td><td>${d.routingKey}</td><td class="error-name">${d.failure.errorName}</td>
<td class="error-message">${d.failure.error}</td><td class="attempts">${d.failure.attempts}</td><td>${time(d.failure.firstFailureAt)}</td><td>${time(d.failure.lastFailureAt)}</td>
<td>${postButton(ctx, groupPath(group, "/replay"), "Replay", idField(d.id))}</td>
</tr>
`)}
</tbody>
</table>
${letters.length >= limit && html`<p class="hint">Showing the oldest ${limit}.</p>`}
${letters.length > 0 && html`<p class="actions">${postButton(ctx, groupPath(group, "/replay"), "Replay all")} ${postButton(ctx, groupPath(group, "/purge"), "Purge all", false, { confirm: "Are you sure?", destructive: true })}</p>`}
<p class="hint">Replay sends a dead letter back to group ${group} only (same routing key and id, attempts reset). From a terminal:
<code>omnibus dlq list ${group} --url …</code>, <code>omnibus dlq replay ${group} --id … --yes</code>.</p>`)

export const deadLetterPage = (ctx: PageContext, group: DeadLetterGroup, d: DeadLetterRecord, payload: DecodedPayload): SafeHtml =>
  layout(ctx, `Dead letter ${d.id}`, html`<h1>Dead letter</h1>
<dl>
<dt>Id</dt><dd><code id="id">${d.id}</code></dd>
<dt>Group</dt><dd>${group}</dd>
<dt>Routing key</dt><dd id="routing_key">${d.routingKey}</dd>
<dt>Key</dt><dd>${d.key ?? "—"}</dd>
<dt>Error</dt><dd id="error">${d.failure.errorName}${d.failure.errorCode !== undefined && ` (${d.failure.errorCode})`}: ${d.failure.error}</dd>
<dt>Attempts</dt><dd>${d.failure.attempts}</dd>
<dt>First failure</dt><dd>${time(d.failure.firstFailureAt)}</dd>
<dt>Last failure</dt><dd>${time(d.failure.lastFailureAt)}</dd>
<dt>Published</dt><dd>${time(d.timestamp)}</dd>
<dt>Content type</dt><dd><code>${d.contentType}</code></dd>
<dt>Headers</dt><dd>${Object.keys(d.headers).length === 0 ? "—" : Object.entries(d.headers).map(([k, v]) => html`<code>${k}: ${v}</code><br>`)}</dd>
</dl>
<h2>Payload <small>decoded as ${payload.as}</small></h2>
<pre id="payload">${payload.text}</pre>
<p>${postButton(ctx, groupPath(group, "/replay"), "Replay", idField(d.id))} <a href="${groupPath(group)}">Back</a></p>`)

export const activityPage = (ctx: PageContext): SafeHtml =>
  layout(ctx, "Activity", html`<h1>Activity</h1>
<p>Employee events as they flow: published by the service's outbox relay, then handled, retried, dead-lettered (or found to be
duplicates) by audit and payroll, and replayed from the Dead letters page. Newest first, the last ${ACTIVITY_CAPACITY}; latency is from
the message's publish to the row's event. <span id="activity-status" role="status">Connecting…</span></p>
<table id="activity" data-stream="connecting" data-max="${ACTIVITY_CAPACITY}">
<thead><tr><th>Time (UTC)</th><th>Event</th><th>By</th><th>Group</th><th>Routing key</th><th>Message id</th><th>Attempt</th><th>Broker</th><th>Latency</th><th>Detail</th></tr></thead>
<tbody></tbody>
</table>
<noscript><p class="error">The Activity table is filled live by /assets/activity.js (Server-Sent Events from /activity/events).</p></noscript>`, "activity.js")
