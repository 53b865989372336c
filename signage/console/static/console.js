// 总览: refresh each screen's state from /api/status every second (no framework, no build).
"use strict";
(function () {
  const t = document.getElementById("i18n");
  if (!t) return;
  const L = t.dataset;
  const fmtOn = (on) => on ? (on.anti_fraud ? "★ " : "") + on.item + "：" + String(on.text || on.path || "").slice(0, 40) : L.closed;
  async function tick() {
    let st;
    try {
      const r = await fetch("/api/status", {credentials: "same-origin", cache: "no-store"});
      if (!r.ok) return;
      st = await r.json();
    } catch (e) { return; }
    const d = document.getElementById("daemon");
    d.textContent = st.live ? L.live : L.notlive;
    d.className = st.live ? "live" : "problem";
    d.dataset.live = st.live ? "1" : "0";
    for (const sc of st.screens || []) {
      const box = document.querySelector('section.screen[data-screen="' + CSS.escape(sc.id) + '"]');
      if (!box) continue;
      const set = (k, v) => { const el = box.querySelector('[data-k="' + k + '"]'); if (el) el.textContent = v; };
      set("on", fmtOn(sc.on));
      set("next", sc.next_af_in_s === null ? "—" : (sc.next_af_in_s === 0 ? L.onNow : Math.round(sc.next_af_in_s) + " " + L.s));
      set("gap", sc.worst_gap_today_s.toFixed(1) + " " + L.s);
      const up = box.querySelector('[data-k="up"]');
      up.textContent = sc.up ? L.up : L.down;
      up.className = sc.up ? "up" : "down";
      let img = box.querySelector('img[data-k="frame"]');
      if (!img && sc.frame) {  // the driver's first picture arrived after the page was drawn
        const holder = box.querySelector("div.frame");
        if (!holder) continue;
        img = document.createElement("img");
        img.alt = L.picture;
        img.dataset.k = "frame";
        holder.replaceChildren(img);
      }
      if (img && sc.frame) img.src = "/frame/" + encodeURIComponent(sc.id) + ".png?v=" + st.written_epoch;
    }
  }
  setInterval(tick, 1000);
})();
