// The Activity table, live: rows come from /activity/events (Server-Sent Events, activity-stream.ts), newest on top.
// A row sent again (its latency became known) replaces the one with the same seq. Cells are set with textContent only.
const table = document.getElementById("activity")
if (table instanceof HTMLTableElement) {
  const body = table.tBodies[0]
  const status = document.getElementById("activity-status")
  const max = Number(table.dataset.max) || 200
  const setState = (state, text) => {
    table.dataset.stream = state
    if (status) status.textContent = text
  }
  const shortId = (id) => (id.length > 13 ? `…${id.slice(-12)}` : id)
  // [text, title]: long values are cut, the whole value is the cell's tooltip.
  const cells = (row) => [
    [new Date(row.at).toISOString().slice(11, 23)],
    [row.type],
    [row.source],
    [row.group ?? ""],
    [row.routingKey],
    [shortId(row.id), row.id],
    [row.attempt === undefined ? "" : String(row.attempt)],
    [row.broker],
    [row.latencyMs === undefined || row.latencyMs === null ? "" : `${Math.round(row.latencyMs)} ms`],
    [
      [row.error ? row.error.name : "", row.delayMs === undefined ? "" : `next try in ${Math.round(row.delayMs)} ms`].filter(Boolean).join("; "),
      row.error ? `${row.error.name}: ${row.error.message}` : undefined,
    ],
  ]
  const render = (row) => {
    const tr = document.createElement("tr")
    tr.dataset.seq = String(row.seq)
    tr.dataset.id = row.id
    tr.dataset.type = row.type
    tr.className = `activity-${row.type}`
    for (const [text, title] of cells(row)) {
      const td = document.createElement("td")
      td.textContent = text
      if (title) td.title = title
      tr.append(td)
    }
    return tr
  }
  const upsert = (row) => {
    const old = body.querySelector(`tr[data-seq="${row.seq}"]`)
    if (old) return old.replaceWith(render(row))
    body.prepend(render(row))
    while (body.rows.length > max) body.rows[body.rows.length - 1].remove()
  }
  const source = new EventSource("/activity/events")
  source.addEventListener("open", () => setState("open", "Live."))
  source.addEventListener("error", () => setState("reconnecting", "Disconnected; reconnecting…"))
  source.addEventListener("activity", (event) => upsert(JSON.parse(event.data)))
}
