// gwsync status page: polls the publisher's REST API (same origin, same credentials) and redraws.
// Every value from the server goes in with textContent: names, labels and refusal messages are data.
"use strict";

const REFRESH_MS = 2000;
const PAGE = 50;
const view = { q: "", problems: false, offset: 0, detail: undefined, busy: false };

const $ = (id) => document.getElementById(id);

function el(tag, o = {}, ...children) {
  const e = document.createElement(tag);
  if (o.className) e.className = o.className;
  if (o.title) e.title = o.title;
  if (o.data) for (const [k, v] of Object.entries(o.data)) e.dataset[k] = v;
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

const td = (v, className) => el("td", className ? { className } : {}, v);
const badge = (text) => el("span", { className: `state ${text}` }, text);

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function fill(table, rows, cols, empty) {
  const body = table.tBodies[0];
  body.replaceChildren(...(rows.length > 0 ? rows : [el("tr", { className: "empty" }, el("td", {}, empty))]));
  if (rows.length === 0) body.rows[0].cells[0].colSpan = cols;
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (!res.ok) throw new Error(`${path.split("?")[0]}: HTTP ${res.status}`);
  return res.json();
}

function drawFleet(f) {
  const states = Object.entries(f.counts).filter(([, n]) => n > 0);
  $("summary").replaceChildren(
    el("span", { className: "chip" }, `head seq ${f.headSeq}`),
    ...states.map(([s, n]) => el("span", { className: `chip ${s}` }, `${n} ${s}`)),
  );
  $("gateway-count").textContent = `(${f.gateways.length})`;
  fill(
    $("gateways"),
    f.gateways.map((g) =>
      el(
        "tr",
        { data: { node: g.nodeId } },
        td(g.nodeId),
        td(g.region),
        el("td", {}, badge(g.state)),
        td(g.labels.join(", ")),
        td(g.appliedSeq, "num"),
        td(g.lagSeq > 0 ? `${g.lagSeq} (${g.lagSeconds}s)` : "0", "num"),
        td(g.served, "num"),
        td(g.refused, g.refused > 0 ? "num refused" : "num"),
        td(ago(g.lastHeartbeatMsAgo)),
        el("td", {}, badge(g.report)),
      ),
    ),
    10,
    "no gateway has sent a heartbeat",
  );
  const regions = new Map();
  for (const g of f.gateways) {
    const r = regions.get(g.region) ?? { n: 0, alive: 0, lagSeq: 0, lagSeconds: 0 };
    r.n++;
    if (g.alive) {
      r.alive++;
      r.lagSeq = Math.max(r.lagSeq, g.lagSeq);
      r.lagSeconds = Math.max(r.lagSeconds, g.lagSeconds);
    }
    regions.set(g.region, r);
  }
  fill(
    $("regions"),
    [...regions].map(([name, r]) =>
      el("tr", {}, td(name), td(r.n, "num"), td(r.alive, "num"), td(r.lagSeq, "num"), td(r.lagSeconds, "num")),
    ),
    5,
    "no gateway yet",
  );
}

function drawRefusals(list) {
  const now = Date.now();
  const current = list.filter((r) => r.current).length;
  $("refusal-count").textContent = `(${current} holding an API back, ${list.length} reported)`;
  fill(
    $("refusals"),
    list.map((r) =>
      el(
        "tr",
        { className: r.current ? "current" : "past", data: { node: r.nodeId, api: r.apiId } },
        td(r.nodeId),
        td(r.name ? `${r.name}:${r.version}` : r.apiId),
        td(r.refusal.revision || "?", "num"),
        td(r.refusal.code, "refused"),
        td(r.refusal.message, "message"),
        td(ago(now - r.refusal.at)),
        td(r.current ? "refused" : "since deployed or superseded"),
      ),
    ),
    7,
    "no refusal reported",
  );
}

function rolloutText(a) {
  const c = a.counts;
  const parts = [`${c.deployed ?? 0} deployed`];
  for (const k of ["pending", "refused", "offline"]) if (c[k] > 0) parts.push(`${c[k]} ${k}`);
  return parts.join(", ");
}

function drawApis(page) {
  $("api-count").textContent = `(${page.total})`;
  const last = Math.min(page.total, page.offset + page.items.length);
  $("page").textContent = page.total === 0 ? "" : `${page.offset + 1}–${last} of ${page.total}`;
  $("prev").disabled = page.offset === 0;
  $("next").disabled = last >= page.total;
  fill(
    $("apis"),
    page.items.map((a) => {
      const tr = el(
        "tr",
        { data: { api: a.apiId }, title: a.apiId },
        td(a.name),
        td(a.version),
        td(a.labels.join(", ")),
        td(a.revision, "num"),
        td(rolloutText(a), a.complete ? "complete" : a.counts.refused > 0 ? "refused" : "pending"),
      );
      tr.addEventListener("click", () => {
        view.detail = a.apiId;
        void refresh();
      });
      return tr;
    }),
    5,
    view.q || view.problems ? "no API matches" : "no API published",
  );
}

function drawDetail(r) {
  const section = $("detail");
  if (!r) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $("detail-title").textContent = `${r.name}:${r.version} (${r.apiId})`;
  const now = Date.now();
  fill(
    $("rollout"),
    r.gateways.map((g) =>
      el(
        "tr",
        { data: { node: g.nodeId } },
        td(g.nodeId),
        td(g.region),
        el("td", {}, badge(g.state)),
        el("td", {}, el("span", { className: `status ${g.status}` }, g.status)),
        td(g.served ? `r${g.served.revision} ${g.served.sha256.slice(0, 12)}` : "nothing"),
        td(g.expected ? `r${g.expected.revision} ${g.expected.sha256.slice(0, 12)}` : "removed"),
        td(g.refusal ? `r${g.refusal.revision} ${g.refusal.code}: ${g.refusal.message} (${ago(now - g.refusal.at)})` : "", "message"),
      ),
    ),
    7,
    "no gateway serves its labels",
  );
}

async function refresh() {
  if (view.busy) return;
  view.busy = true;
  try {
    const q = new URLSearchParams({ offset: String(view.offset), limit: String(PAGE) });
    if (view.q) q.set("q", view.q);
    if (view.problems) q.set("problems", "1");
    const [fleet, refusals, apis, detail] = await Promise.all([
      getJson("/api/v1/fleet"),
      getJson("/api/v1/refusals?limit=200"),
      getJson(`/api/v1/rollouts?${q}`),
      view.detail ? getJson(`/api/v1/artifacts/${encodeURIComponent(view.detail)}/rollout`).catch(() => undefined) : undefined,
    ]);
    drawFleet(fleet);
    drawRefusals(refusals.items);
    drawApis(apis);
    drawDetail(detail);
    $("updated").textContent = new Date().toLocaleTimeString();
    $("error").textContent = "";
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed ?? 0) + 1);
  } catch (err) {
    $("error").textContent = `cannot refresh: ${err.message}`;
  } finally {
    view.busy = false;
  }
}

function start() {
  let typing;
  $("q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      view.q = $("q").value.trim();
      view.offset = 0;
      void refresh();
    }, 250);
  });
  $("problems").addEventListener("change", () => {
    view.problems = $("problems").checked;
    view.offset = 0;
    void refresh();
  });
  $("prev").addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - PAGE);
    void refresh();
  });
  $("next").addEventListener("click", () => {
    view.offset += PAGE;
    void refresh();
  });
  $("detail-close").addEventListener("click", () => {
    view.detail = undefined;
    $("detail").hidden = true;
  });
  $("api-filter").addEventListener("submit", (e) => e.preventDefault());
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
