/* SPDX-License-Identifier: MIT */
/* OBS browser source: ?device=ID (default: the first strap that sends a heart rate),
 * ?style=big|minimal|card. */
"use strict";

const STYLES = ["big", "minimal", "card"];
let want = null, bpm = null, zone = null, lastHr = 0, stale = false, connected = true;

function render() {
  const box = document.getElementById("overlay");
  const live = connected && !stale && bpm !== null && Date.now() - lastHr < CD.staleAfterMs;
  const state = !connected ? "offline" : live ? "live" : lastHr === 0 ? "waiting" : "stale";
  box.className = "overlay state-" + state + " " + (live ? CD.zoneClass(zone) : "zone-none");
  document.getElementById("bpm").textContent = live ? String(Math.round(bpm)) : "—";
  document.getElementById("label").textContent =
    live ? "" : state === "offline" ? "stale · offline" : state;
  /* One beat per 60/bpm seconds; no beating when there is no live rate. */
  const heart = box.querySelector(".heart");
  heart.style.animationDuration = live ? (60 / bpm).toFixed(3) + "s" : "0s";
}

function start() {
  const style = CD.param("style");
  document.body.className = "style-" + (STYLES.includes(style) ? style : "big");
  want = CD.param("device");
  CD.follow({
    hr: (e) => {
      if (!want) want = e.device;
      if (e.device !== want) return;
      bpm = e.bpm; zone = e.zone; lastHr = Date.now(); stale = false; connected = true;
      render();
    },
    device: (e) => {
      if (want && e.id !== want) return;
      if (!want && !e.connected) return;
      stale = e.stale; connected = e.connected;
      render();
    },
  }, want);
  render();
  setInterval(render, 1000);
}

document.addEventListener("DOMContentLoaded", start);
