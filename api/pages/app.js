/* SPDX-License-Identifier: MIT */
/* The live page (DESIGN §9.3): /events for the live state, the JSON API for the rest. */
"use strict";

const WINDOW_S = 600;
const devices = new Map();  /* id → {id, name, transport, connected, stale, battery_pct, bpm, zone, lastHr, session} */
const points = new Map();   /* id → [{t, bpm, zone}] (t: epoch seconds), the last 10 minutes */
let shown = null;           /* the session object in the panel */
let refreshTimer = null;

function strapCard(d) {
  let card = document.querySelector('.strap[data-device="' + CSS.escape(d.id) + '"]');
  if (!card) {
    card = CD.el("article", "strap");
    card.dataset.device = d.id;
    card.append(CD.el("div", "strap-name"), CD.el("div", "bpm"), CD.el("div", "zone-label"),
                CD.el("div", "state"));
    card.querySelector(".bpm").append(CD.el("span", "value"), CD.el("span", "unit", "bpm"));
    document.getElementById("straps").append(card);
    document.getElementById("no-straps").hidden = true;
  }
  return card;
}

function isLive(d) {
  return d.connected && !d.stale && d.bpm !== null && Date.now() - d.lastHr < CD.staleAfterMs;
}

function renderStrap(d) {
  const card = strapCard(d);
  const live = isLive(d);
  const state = !d.connected ? "offline" : live ? "live" : d.lastHr === 0 && !d.stale ? "waiting" : "stale";
  card.className = "strap state-" + state + " " + (live ? CD.zoneClass(d.zone) : "zone-none");
  card.querySelector(".strap-name").textContent =
    (d.name || d.id) + (d.battery_pct !== null && d.battery_pct !== undefined ? " · " + d.battery_pct + " %" : "");
  card.querySelector(".value").textContent = live ? String(Math.round(d.bpm)) : "—";
  card.querySelector(".zone-label").textContent = live ? CD.zoneNames[d.zone] || "" : "";
  card.querySelector(".state").textContent =
    state === "live" ? "live" : state === "offline" ? "stale · strap offline"
      : state === "waiting" ? "waiting for a heart rate" : "stale — no heart rate for a while";
}

function device(id) {
  let d = devices.get(id);
  if (!d) {
    d = { id, name: id, connected: true, stale: false, battery_pct: null, bpm: null, zone: null, lastHr: 0 };
    devices.set(id, d);
  }
  return d;
}

function onHr(e) {
  const d = device(e.device);
  d.bpm = e.bpm;
  d.zone = e.zone;
  d.lastHr = Date.now();
  d.stale = false;
  d.connected = true;
  d.session = e.session;
  const list = points.get(e.device) || [];
  list.push({ t: Date.parse(e.t) / 1000, bpm: e.bpm, zone: e.zone });
  while (list.length && list[0].t < list[list.length - 1].t - WINDOW_S) list.shift();
  points.set(e.device, list);
  renderStrap(d);
  if (e.session && (!shown || shown.id !== e.session || shown.state !== "active")) scheduleRefresh(0);
  else scheduleRefresh(2000);
  drawChart();
}

function onDevice(e) {
  const d = device(e.id);
  Object.assign(d, { name: e.name, transport: e.transport, connected: e.connected, stale: e.stale,
                     battery_pct: e.battery_pct });
  renderStrap(d);
}

function scheduleRefresh(ms) {
  if (refreshTimer !== null) {
    if (ms > 0) return;
    clearTimeout(refreshTimer);
  }
  refreshTimer = setTimeout(() => { refreshTimer = null; refreshSession(); }, ms);
}

async function refreshSession() {
  try {
    renderSession(await CD.json("/session"));
  } catch (err) {
    if (err.status !== 404) console.warn(err);
  }
}

function renderSession(s) {
  const first = !shown || shown.id !== s.id;
  shown = s;
  document.getElementById("session-panel").hidden = false;
  document.getElementById("session-title").textContent =
    "#" + s.id + " · " + (s.device ? s.device.name : "") + " · " +
    (s.state === "active" ? "active" : "ended") + " · " + CD.minutes(s.active_s) + " active";
  document.getElementById("window").textContent = String(Math.round(s.window_s / 60));
  const tbody = document.querySelector("#zones tbody");
  tbody.replaceChildren();
  const total = Math.max(1, ...s.zones.map((z) => z.s));
  for (const z of s.zones) {
    const tr = CD.el("tr", CD.zoneClass(z.zone));
    const bar = CD.el("div", "bar");
    const fill = CD.el("div", "fill");
    fill.style.width = (100 * z.s / total).toFixed(1) + "%";
    bar.append(fill);
    const range = z.hi_bpm === null ? "≥ " + Math.round(z.lo_bpm) : Math.round(z.lo_bpm) + "–" + Math.round(z.hi_bpm);
    const tdBar = CD.el("td", "barcell");
    tdBar.append(bar);
    tr.append(CD.el("td", "zname", CD.zoneNames[z.zone]), CD.el("td", "muted small", range + " bpm"),
              tdBar, CD.el("td", "num", CD.minutes(z.s)), CD.el("td", "num muted", CD.minutes(z.rolling_s)));
    tbody.append(tr);
  }
  const dose = s.dose, ms = dose.milestones;
  const items = [
    ["mvpa_20", "20 min moderate–vigorous", dose.mvpa_s, 1200, ms.mvpa_20],
    ["mvpa_40", "40 min moderate–vigorous", dose.mvpa_s, 2400, ms.mvpa_40],
    ["duration_60", "60 min of activity", s.active_s, 3600, ms.duration_60],
  ];
  const ul = document.getElementById("dose");
  ul.replaceChildren();
  for (const [key, label, v, goal, reached] of items) {
    const li = CD.el("li", reached !== null ? "done" : "");
    li.dataset.milestone = key;
    const bar = CD.el("div", "bar");
    const fill = CD.el("div", "fill");
    fill.style.width = Math.min(100, 100 * v / goal).toFixed(1) + "%";
    bar.append(fill);
    li.append(CD.el("span", "label", label + (reached !== null ? " ✓" : "")),
              CD.el("span", "num", CD.minutes(Math.min(v, goal)) + " / " + goal / 60 + ":00"), bar);
    ul.append(li);
  }
  const ecb = CD.el("li", "ecb");
  const pct = s.zone && s.zone.pct_hr_max;
  const where = pct === null || pct === undefined || s.stale || s.state !== "active" ? "" :
    pct < 70 ? " · now below the band" : pct < 80 ? " · now in the band" : " · now above the band";
  ecb.append(CD.el("span", "label", "ECB band (70–80 % HRmax)" + where),
             CD.el("span", "num", CD.minutes(dose.ecb_s) + " · last 10 min " + CD.minutes(dose.rolling_ecb_s)));
  const bar = CD.el("div", "bar");
  const fill = CD.el("div", "fill");
  fill.style.width = Math.min(100, 100 * dose.rolling_ecb_s / Math.max(1, s.window_s)).toFixed(1) + "%";
  bar.append(fill);
  ecb.append(bar);
  ul.append(ecb);
  if (first) prefill(s);
}

function zoneOf(s, bpm) {
  let z = 0;
  for (const q of s.zones) if (q.lo_bpm !== null && bpm >= q.lo_bpm) z = q.zone;
  return z;
}

/* The chart starts with the stored samples of the session, then follows /events. */
async function prefill(s) {
  if (s.state !== "active" || !s.device) return;
  try {
    const data = await CD.json("/sessions/" + s.id + "/samples");
    const t0 = Date.parse(s.started_at) / 1000;
    const live = points.get(s.device.id) || [];
    const first = live.length ? live[0].t : Infinity;
    const past = data.samples.map((x) => ({ t: t0 + x.t_s, bpm: x.bpm, zone: zoneOf(s, x.bpm) }))
      .filter((p) => p.t < first && p.bpm >= 30 && p.bpm <= 240);
    const end = past.length ? past[past.length - 1].t : 0;
    points.set(s.device.id, past.filter((p) => p.t > end - WINDOW_S).concat(live));
    drawChart();
  } catch (err) { console.warn(err); }
}

function drawChart() {
  const id = shown && shown.device ? shown.device.id : devices.keys().next().value;
  const list = points.get(id) || [];
  const canvas = document.getElementById("chart");
  if (!canvas.offsetParent) return;
  /* The window ends now: when the samples stop, the line stops and time moves on. */
  const last = list.length ? list[list.length - 1].t : 0;
  CD.chart(canvas, list, WINDOW_S, Math.max(Date.now() / 1000, last));
}

async function loadRecent() {
  let data;
  try { data = await CD.json("/sessions?limit=5"); } catch (err) { return; }
  const ul = document.getElementById("recent");
  ul.replaceChildren();
  if (!data.sessions.length) { ul.append(CD.el("li", "muted", "None yet.")); return; }
  for (const s of data.sessions) {
    const li = CD.el("li", "session-item");
    const when = new Date(s.started_at);
    const hr = s.heart_rate || {};
    li.append(CD.el("div", "when", when.toLocaleString()),
              CD.el("div", "muted small", CD.minutes(s.active_s) + " active · avg " +
                    (hr.avg === null || hr.avg === undefined ? "—" : Math.round(hr.avg)) + " bpm · MVPA " +
                    CD.minutes(s.dose ? s.dose.mvpa_s : null) + (s.state === "active" ? " · active" : "")));
    const canvas = CD.el("canvas", "mini");
    li.append(canvas);
    ul.append(li);
    CD.json("/sessions/" + s.id + "/samples").then((d) => {
      const pts = d.samples.filter((x) => x.bpm >= 30 && x.bpm <= 240)
        .map((x) => ({ t: x.t_s, bpm: x.bpm, zone: s.zones ? zoneOf(s, x.bpm) : null }));
      CD.chart(canvas, pts);
    }).catch(() => {});
  }
}

async function loadWeek() {
  const panel = document.getElementById("week-panel");
  let w;
  try { w = await CD.json("/summary?by=week"); } catch (err) { panel.hidden = true; return; }
  const p = w.periods && w.periods.length ? w.periods[w.periods.length - 1] : null;
  if (!p || !w.goal) { panel.hidden = true; return; }
  document.getElementById("week-min").textContent = String(Math.round(p.intensity_min));
  document.getElementById("week-goal").textContent = String(w.goal.weekly_intensity_min);
  document.getElementById("week-sessions").textContent = String(p.sessions);
  document.getElementById("week-bar").style.width =
    Math.min(100, 100 * p.intensity_min / Math.max(1, w.goal.weekly_intensity_min)).toFixed(1) + "%";
  panel.hidden = false;
}

function setLink(state, text) {
  const link = document.getElementById("link");
  link.dataset.state = state;
  link.textContent = text;
}

function start() {
  CD.follow({
    hr: onHr,
    device: onDevice,
    zone: () => scheduleRefresh(0),
    milestone: () => scheduleRefresh(0),
    session: (e) => {
      const d = device(e.device);
      d.session = e.state === "active" ? e.id : null;
      scheduleRefresh(0);
      if (e.state === "ended") { loadRecent(); loadWeek(); }
    },
    open: () => setLink("live", "connected"),
    error: () => setLink("down", "reconnecting…"),
  });
  refreshSession();
  loadRecent();
  loadWeek();
  /* Stale on the page too: no number stays up as live once the samples stop. */
  setInterval(() => { for (const d of devices.values()) renderStrap(d); }, 1000);
  setInterval(drawChart, 5000);
  window.addEventListener("resize", drawChart);
}

document.addEventListener("DOMContentLoaded", start);
