// runner docs: the DAG (pan, zoom, click, highlight, search) and the pages, from the JSON the
// page embeds. No library and no network: everything is in this file and the page.
"use strict";

const DATA = JSON.parse(document.getElementById("data").textContent);
const G = DATA.graph;
const W = G.node_width, H = G.node_height;
const svg = document.getElementById("dag");
const viewport = document.getElementById("viewport");
const panel = document.getElementById("panel");
const search = document.getElementById("search");
const hits = document.getElementById("hits");

const byId = new Map(G.nodes.map((n) => [n.id, n]));
const parents = new Map(G.nodes.map((n) => [n.id, []]));
const children = new Map(G.nodes.map((n) => [n.id, []]));
for (const [a, b] of G.edges) { children.get(a).push(b); parents.get(b).push(a); }

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function nodeId(kind, name) { return kind === "source" ? "source:" + name : name; }
function href(id) { return id.startsWith("source:") ? "#source/" + encodeURIComponent(id.slice(7)) : "#model/" + encodeURIComponent(id); }
function link(id) { return `<a href="${href(id)}">${esc(byId.get(id) ? byId.get(id).name : id)}</a>`; }
function label(name) { return name.length > 24 ? name.slice(0, 23) + "\u2026" : name; }

// -- the DAG ---------------------------------------------------------------------------------
function drawGraph() {
  const parts = [];
  for (const [a, b] of G.edges) {
    const p = byId.get(a), c = byId.get(b);
    const x1 = p.x + W / 2, y1 = p.y + H, x2 = c.x + W / 2, y2 = c.y, m = (y1 + y2) / 2;
    parts.push(`<path class="edge" data-from="${esc(a)}" data-to="${esc(b)}" d="M${x1},${y1} C${x1},${m} ${x2},${m} ${x2},${y2}"/>`);
  }
  for (const n of G.nodes) {
    parts.push(`<g class="node ${n.kind}" data-id="${esc(n.id)}" transform="translate(${n.x},${n.y})">` +
      `<title>${esc(n.kind === "source" ? "source " + n.name : n.name)}</title>` +
      `<rect width="${W}" height="${H}"></rect><text x="9" y="${H / 2 + 4}">${esc(label(n.name))}</text></g>`);
  }
  viewport.innerHTML = parts.join("");
}

const view = {x: 0, y: 0, k: 1};
function applyView() { viewport.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
function fit() {
  const box = svg.getBoundingClientRect();
  const k = Math.min(box.width / (G.width + 40), box.height / (G.height + 40), 1.5);
  view.k = k > 0 ? k : 1;
  view.x = (box.width - G.width * view.k) / 2;
  view.y = Math.max(10, (box.height - G.height * view.k) / 2);
  applyView();
}
function zoomAt(factor, cx, cy) {
  const k = Math.min(4, Math.max(0.02, view.k * factor));
  view.x = cx - (cx - view.x) * (k / view.k);
  view.y = cy - (cy - view.y) * (k / view.k);
  view.k = k;
  applyView();
}
function centreOn(id) {
  const n = byId.get(id);
  if (!n) return;
  const box = svg.getBoundingClientRect();
  const sx = view.x + (n.x + W / 2) * view.k, sy = view.y + (n.y + H / 2) * view.k;
  if (sx > 0 && sx < box.width && sy > 0 && sy < box.height && view.k >= 0.5) return;
  view.k = Math.max(view.k, 0.8);
  view.x = box.width / 2 - (n.x + W / 2) * view.k;
  view.y = box.height / 2 - (n.y + H / 2) * view.k;
  applyView();
}

svg.addEventListener("wheel", (e) => {
  e.preventDefault();
  const box = svg.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
}, {passive: false});
let drag = null;
svg.addEventListener("pointerdown", (e) => {
  drag = {x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false};
});
window.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("panning"); }
  view.x = drag.vx + dx; view.y = drag.vy + dy;
  applyView();
});
window.addEventListener("pointerup", () => { svg.classList.remove("panning"); setTimeout(() => { drag = null; }, 0); });
svg.addEventListener("click", (e) => {
  if (drag && drag.moved) return;
  const node = e.target.closest(".node");
  if (node) location.hash = href(node.dataset.id);
});
document.getElementById("zoom-in").addEventListener("click", () => { const b = svg.getBoundingClientRect(); zoomAt(1.3, b.width / 2, b.height / 2); });
document.getElementById("zoom-out").addEventListener("click", () => { const b = svg.getBoundingClientRect(); zoomAt(1 / 1.3, b.width / 2, b.height / 2); });
document.getElementById("fit").addEventListener("click", fit);

function reach(id, step) {
  const seen = new Set(), todo = [id];
  while (todo.length) for (const next of step.get(todo.pop()) || []) if (!seen.has(next)) { seen.add(next); todo.push(next); }
  return seen;
}
function highlight(id) {
  const up = id ? reach(id, parents) : new Set(), down = id ? reach(id, children) : new Set();
  const lit = new Set([...up, ...down]);
  if (id) lit.add(id);
  viewport.classList.toggle("dim", Boolean(id));
  for (const el of viewport.querySelectorAll(".node")) {
    const n = el.dataset.id;
    el.classList.toggle("selected", n === id);
    el.classList.toggle("up", up.has(n));
    el.classList.toggle("down", down.has(n));
    el.classList.toggle("lit", lit.has(n));
  }
  for (const el of viewport.querySelectorAll(".edge")) {
    el.classList.toggle("lit", lit.has(el.dataset.from) && lit.has(el.dataset.to));
  }
}

// -- search ----------------------------------------------------------------------------------
let found = [], active = 0;
function runSearch() {
  const q = search.value.trim().toLowerCase();
  for (const el of viewport.querySelectorAll(".node.match")) el.classList.remove("match");
  if (!q) { hits.hidden = true; found = []; return; }
  found = G.nodes.filter((n) => n.name.toLowerCase().includes(q) ||
    (n.kind === "model" && (DATA.models[n.id].tags || []).some((t) => t.toLowerCase() === q)))
    .sort((a, b) => (a.name.toLowerCase().startsWith(q) ? 0 : 1) - (b.name.toLowerCase().startsWith(q) ? 0 : 1) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ids = new Set(found.map((n) => n.id));
  for (const el of viewport.querySelectorAll(".node")) if (ids.has(el.dataset.id)) el.classList.add("match");
  active = 0;
  hits.innerHTML = found.slice(0, 50).map((n, i) =>
    `<li data-id="${esc(n.id)}" class="${i === 0 ? "active" : ""}">${esc(n.name)}<span class="kind">${n.kind}</span></li>`).join("") ||
    `<li class="none">no model or source matches</li>`;
  hits.hidden = false;
}
function pick(id) { hits.hidden = true; location.hash = href(id); }
search.addEventListener("input", runSearch);
search.addEventListener("keydown", (e) => {
  const items = hits.querySelectorAll("li[data-id]");
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    if (!items.length) return;
    items[active].classList.remove("active");
    active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items[active].classList.add("active");
  } else if (e.key === "Enter" && items.length) {
    pick(items[active].dataset.id);
  } else if (e.key === "Escape") {
    search.value = ""; runSearch();
  }
});
hits.addEventListener("click", (e) => { const li = e.target.closest("li[data-id]"); if (li) pick(li.dataset.id); });
document.addEventListener("keydown", (e) => { if (e.key === "/" && document.activeElement !== search) { e.preventDefault(); search.focus(); } });

// -- the pages -------------------------------------------------------------------------------
function status(result) {
  if (!result) return `<span class="unknown">not in the last run</span>`;
  const bits = [`<span class="status-${esc(result.status)}">${esc(result.status)}</span>`];
  if (result.rows !== null && result.rows !== undefined) bits.push(`${esc(result.rows)} rows`);
  if (result.seconds !== null && result.seconds !== undefined) bits.push(`${esc(result.seconds)} s`);
  if (result.timing && result.timing.execute) bits.push(`started ${esc(result.timing.execute[0])}`);
  if (result.message) bits.push(esc(result.message));
  if (DATA.run.target && DATA.run.target !== DATA.target) bits.push(`on target ${esc(DATA.run.target)}`);
  return bits.join(" &middot; ");
}
function type(column) {
  return column.type ? `<code>${esc(column.type)}</code>` + (column.type_from === "compiled" ? ` <span class="from" title="Spark's type, from the compiler (the model is not built on this target)">spark</span>` : "")
    : `<span class="unknown">unknown</span>`;
}
function lineage(value) {
  if (!value) return "";
  const from = (value.value || []).map((c) => `<code>${esc(c)}</code>`).join(", ");
  const via = (value.via || []).length ? ` <span class="meta">via ${(value.via || []).map((c) => `<code>${esc(c)}</code>`).join(", ")}</span>` : "";
  return from + via;
}
function columnsTable(columns, modelColumns) {
  if (!columns.length) return `<p class="unknown">no columns known</p>`;
  const withModelFacts = modelColumns && columns.some((c) => (c.labels || []).length || c.lineage);
  const head = withModelFacts ? "<th>labels</th><th>lineage</th>" : "";
  return `<table class="columns"><tr><th>column</th><th>type</th><th>description</th>${head}</tr>` + columns.map((c) =>
    `<tr data-column="${esc(c.name)}"><td><code>${esc(c.name)}</code></td><td class="type">${type(c)}</td><td>${esc(c.description)}</td>` +
    (withModelFacts ? `<td>${(c.labels || []).map((l) => `<span class="label">${esc(l)}</span>`).join("")}</td><td class="lineage">${lineage(c.lineage)}</td>` : "") +
    `</tr>`).join("") + `</table>`;
}
function links(ids) { return ids.length ? `<ul class="links">${ids.map((id) => `<li>${link(id)}</li>`).join("")}</ul>` : `<p class="meta">none</p>`; }

function modelPage(name) {
  const m = DATA.models[name];
  if (!m) return `<h2>Not found</h2><p>No model named <code>${esc(name)}</code>.</p>`;
  const tests = m.tests.length ? `<table class="tests"><tr><th>test</th><th>kind</th><th>column</th><th>severity</th><th>declared at</th><th>last run</th></tr>` +
    m.tests.map((t) => `<tr><td><code>${esc(t.name)}</code></td><td>${esc(t.kind)}</td><td>${esc(t.column || "")}</td><td>${esc(t.severity)}</td><td>${esc(t.declared_at)}</td><td>${t.last_run ? status(t.last_run) : ""}</td></tr>`).join("") + `</table>`
    : `<p class="meta">none</p>`;
  const compiled = m.compiled === null ? `<p class="unknown">not compiled</p>` :
    `<pre id="compiled-sql">${esc(m.compiled)}</pre>` + (m.statements.length ? `<details><summary>statements run on target ${esc(DATA.target)}</summary><pre id="statements">${esc(m.statements.map(s => s.split("\0").join(m.compiled)).join(";\n\n") + ";")}</pre></details>` : "");
  return `<article class="model" data-model="${esc(name)}">
    <h2>${esc(name)}</h2>
    <div class="meta"><code>${esc(m.path)}</code> &middot; ${esc(m.materialized)} ${m.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join("")}</div>
    <p class="description">${m.description ? esc(m.description) : `<span class="unknown">no description</span>`}</p>
    <h3>Last run</h3><p class="last-run">${status(m.last_run)}</p>
    <p class="meta">current version: <code>${esc(m.current || "not built")}</code>${m.physical ? ` &middot; this compile builds <code>${esc(m.physical)}</code>` : ""}</p>
    <h3>Columns</h3>${columnsTable(m.columns, true)}
    <h3>Data tests</h3>${tests}
    <h3>Upstream</h3>${links(m.parents)}
    <h3>Downstream</h3>${links(m.children)}
    <h3>SQL as written</h3><pre id="sql">${esc(m.sql)}</pre>
    <h3>Compiled for target ${esc(DATA.target)} (${esc(DATA.adapter)})</h3>${compiled}
    ${m.notes.length ? `<h3>Notes</h3><ul>${m.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}
  </article>`;
}
function sourcePage(name) {
  const s = DATA.sources[name];
  if (!s) return `<h2>Not found</h2><p>No source named <code>${esc(name)}</code>.</p>`;
  return `<article class="source" data-source="${esc(name)}"><h2>source ${esc(name)}</h2>
    <div class="meta">identifier <code>${esc(s.identifier)}</code>${s.loader ? ` &middot; ${esc(s.loader)}` : ""}${s.path ? ` <code>${esc(s.path)}</code>` : ""}</div>
    <p>${s.description ? esc(s.description) : `<span class="unknown">no description</span>`}</p>
    ${s.data_version ? `<p class="meta">data version <code>${esc(s.data_version)}</code></p>` : ""}
    <h3>Columns</h3>${columnsTable(s.columns, false)}
    <h3>Read by</h3>${links(s.children)}</article>`;
}
function sourcesPage() {
  const names = Object.keys(DATA.sources);
  return `<h2>Sources</h2><table><tr><th>source</th><th>identifier</th><th>description</th><th>read by</th></tr>` +
    names.map((n) => { const s = DATA.sources[n]; return `<tr><td>${link(nodeId("source", n))}</td><td><code>${esc(s.identifier)}</code></td><td>${esc(s.description)}</td><td>${s.children.length}</td></tr>`; }).join("") + `</table>`;
}
function exportsPage() {
  if (!DATA.exports.length) return `<h2>Exports</h2><p class="meta">The project exports nothing.</p>`;
  return `<h2>Exports</h2><table class="exports"><tr><th>model</th><th>name</th><th>type</th><th>format</th><th>schedule</th><th>last run</th></tr>` +
    DATA.exports.map((e) => `<tr><td>${link(e.model)}</td><td>${esc(e.name)}</td><td>${esc(e.type)}</td><td>${esc(e.format)} (${esc(e.compression)})</td><td>${esc(e.schedule || "ad hoc")}</td><td>${status(e.last_run)}</td></tr>`).join("") + `</table>`;
}
function runPage() {
  const r = DATA.run;
  if (!r || !r.generated_at) return `<h2>Last run</h2><p class="meta">No run yet: <code>runner build</code> writes target/run_results.json.</p>`;
  const rows = Object.values(DATA.models).map((m) => `<tr><td>${link(m.name)}</td><td>${status(m.last_run)}</td></tr>`).join("");
  return `<h2>Last run</h2><p class="meta">runner ${esc(r.which)} on target ${esc(r.target)}, ${esc(r.generated_at)}, ${esc(r.elapsed)} s</p>
    <table class="run"><tr><th>model</th><th>result</th></tr>${rows}</table>`;
}
function overview() {
  const models = Object.values(DATA.models);
  const counts = {};
  for (const m of models) counts[m.materialized] = (counts[m.materialized] || 0) + 1;
  const roots = G.nodes.filter((n) => n.kind === "model" && !parents.get(n.id).some((p) => byId.get(p).kind === "model")).length;
  const leaves = G.nodes.filter((n) => n.kind === "model" && !children.get(n.id).length).length;
  const layers = 1 + Math.max(0, ...G.nodes.map((n) => n.layer));
  return `<h2>${esc(DATA.project)}</h2>
    <p class="meta">target ${esc(DATA.target)} (${esc(DATA.adapter)})</p>
    <p><b id="model-count">${models.length}</b> models (${Object.entries(counts).map(([k, v]) => `${v} ${esc(k)}`).join(", ")}),
      ${Object.keys(DATA.sources).length} sources, ${DATA.exports.length} exports; ${G.edges.length} edges over ${layers} layers,
      ${roots} models reading only sources, ${leaves} read by no model.</p>
    <p class="meta">Click a node to open its model; drag to pan, wheel to zoom; press / to search.</p>
    <h3>Models</h3><table><tr><th>model</th><th>materialized</th><th>description</th></tr>` +
    models.map((m) => `<tr><td>${link(m.name)}</td><td>${esc(m.materialized)}</td><td>${esc(m.description)}</td></tr>`).join("") + `</table>`;
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const [page, ...rest] = hash.split("/");
  const name = rest.join("/");
  let selected = null;
  if (page === "model") { panel.innerHTML = modelPage(name); selected = name; }
  else if (page === "source") { panel.innerHTML = sourcePage(name); selected = nodeId("source", name); }
  else if (page === "sources") panel.innerHTML = sourcesPage();
  else if (page === "exports") panel.innerHTML = exportsPage();
  else if (page === "run") panel.innerHTML = runPage();
  else panel.innerHTML = overview();
  panel.scrollTop = 0;
  highlight(byId.has(selected) ? selected : null);
  if (byId.has(selected)) centreOn(selected);
}

document.getElementById("project").textContent = `${DATA.project} \u00b7 ${DATA.target}`;
document.title = `${DATA.project} \u00b7 runner docs`;
drawGraph();
fit();
window.addEventListener("hashchange", route);
window.addEventListener("resize", fit);
route();
document.body.dataset.ready = "true";
