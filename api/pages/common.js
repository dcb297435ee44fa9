/* SPDX-License-Identifier: MIT */
/* Shared by the live page and the overlay: zone colours, the event stream. */
"use strict";

const CD = {
  zoneNames: ["Z0 rest", "Z1 very light", "Z2 light", "Z3 moderate", "Z4 hard", "Z5 maximum"],
  staleAfterMs: 10000, /* [session] stale_after_s default: never show a frozen number as live */

  zoneClass(z) {
    return (z === null || z === undefined || z < 0 || z > 5) ? "zone-none" : "zone-" + z;
  },

  param(name) {
    return new URLSearchParams(window.location.search).get(name);
  },

  async json(path) {
    const r = await fetch(path, { headers: { "Accept": "application/json" } });
    if (!r.ok) {
      const e = new Error(path + ": HTTP " + r.status);
      e.status = r.status;
      throw e;
    }
    return r.json();
  },

  /* Follow /events; handlers.{hr,zone,session,milestone,device,open,error}.
   * EventSource resumes with Last-Event-ID by itself after a drop. */
  follow(handlers, device) {
    const url = "/events" + (device ? "?device=" + encodeURIComponent(device) : "");
    const es = new EventSource(url);
    for (const type of ["hr", "zone", "session", "milestone", "device"]) {
      es.addEventListener(type, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (handlers[type]) handlers[type](data);
      });
    }
    es.onopen = () => handlers.open && handlers.open();
    es.onerror = () => handlers.error && handlers.error();
    return es;
  },

  minutes(s) {
    if (s === null || s === undefined) return "—";
    const m = Math.floor(s / 60), sec = Math.floor(s % 60);
    return m + ":" + String(sec).padStart(2, "0");
  },

  el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  },

  zoneColour(z) {
    const probe = CD._probe || (CD._probe = document.body.appendChild(CD.el("span", "probe")));
    probe.className = "probe " + CD.zoneClass(z);
    return getComputedStyle(probe).color;
  },

  /* A line chart of points [{t (s), bpm, zone}] on a canvas, coloured by zone. */
  chart(canvas, points, spanS, endT) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 120;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const axis = getComputedStyle(canvas).color;
    g.strokeStyle = axis;
    g.globalAlpha = 0.25;
    g.lineWidth = 1;
    for (const b of [60, 100, 140, 180]) {
      const y = h - ((b - 40) / 160) * h;
      g.beginPath(); g.moveTo(h > 80 ? 28 : 0, y); g.lineTo(w, y); g.stroke();
    }
    g.globalAlpha = 1;
    if (h > 80) {
      g.fillStyle = axis;
      g.font = "11px system-ui, sans-serif";
      g.textBaseline = "middle";
      for (const b of [60, 100, 140, 180]) g.fillText(String(b), 0, h - ((b - 40) / 160) * h);
    }
    if (!points.length) return;
    const t1 = endT !== undefined ? endT : points[points.length - 1].t;
    const t0 = spanS ? t1 - spanS : points[0].t;
    const span = Math.max(1, t1 - t0);
    g.lineWidth = 2;
    let prev = null;
    for (const p of points) {
      if (p.t < t0) continue;
      const left = h > 80 ? 28 : 0;
      const x = left + ((p.t - t0) / span) * (w - left);
      const y = h - ((Math.min(200, Math.max(40, p.bpm)) - 40) / 160) * h;
      if (prev && p.t - prev.t <= 5) {
        g.strokeStyle = CD.zoneColour(prev.zone);
        g.beginPath(); g.moveTo(prev.x, prev.y); g.lineTo(x, y); g.stroke();
      }
      prev = { x, y, t: p.t, zone: p.zone };
    }
  },
};
