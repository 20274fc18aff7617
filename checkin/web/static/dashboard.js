// Facilities dashboard: polls /api/dashboard and fills the page. Values are set with
// textContent only (never innerHTML), and "no data" is shown where nothing was measured.
(function () {
  "use strict";
  const script = document.currentScript;
  const refresh = Number(script && script.dataset.refresh) || 15;
  const $ = (id) => document.getElementById(id);
  const GOOD = new Set(["ok"]);
  const QUIET = new Set(["not_in_use", "not_configured", "unknown"]);
  const label = (s) => String(s).replace(/_/g, " ");
  const ago = (iso) => {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return new Date(iso).toLocaleString();
  };
  function set(id, value, suffix) {
    const el = $(id);
    if (value === null || value === undefined) { el.textContent = "no data"; el.classList.add("nodata"); return; }
    el.classList.remove("nodata");
    el.textContent = value + (suffix || "");
  }
  const pct = (r) => (r === null || r === undefined ? null : Math.round(r * 100));
  function tile(p) {
    const div = document.createElement("div");
    const kind = GOOD.has(p.status) ? "good" : QUIET.has(p.status) ? "" : (p.status === "fallback" || p.status === "degraded") ? "warn" : "bad";
    div.className = "tile " + kind;
    div.dataset.provider = p.name;
    div.dataset.status = p.status;
    const h = document.createElement("h3");
    const dot = document.createElement("span"); dot.className = "dot"; dot.setAttribute("aria-hidden", "true");
    h.append(dot, document.createTextNode(p.name === "stt" ? "Speech to text" : p.name === "tts" ? "Text to speech" : p.name === "llm" ? "Language model" : p.name));
    const mode = document.createElement("div"); mode.className = "mode"; mode.textContent = p.mode || "";
    const state = document.createElement("div"); state.className = "state"; state.textContent = label(p.status);
    const meta = document.createElement("div"); meta.className = "meta";
    const bits = [];
    if (p.last_success_at) bits.push("last success " + ago(p.last_success_at));
    if (p.last_error_code) bits.push("last error " + p.last_error_code + (p.last_error_at ? " (" + ago(p.last_error_at) + ")" : ""));
    meta.textContent = bits.join(" · ");
    div.append(h, mode, state, meta);
    return div;
  }
  async function load() {
    try {
      const r = await fetch("/api/dashboard", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.status === 401) { location.href = "/login?next=/dashboard"; return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      const d = await r.json();
      const overall = $("overall");
      overall.className = "overall " + d.status;
      $("overall-text").textContent = d.status === "ok" ? "Everything is working" : "Something needs attention";
      $("providers").replaceChildren(...d.providers.map(tile));
      set("k-checkins", d.today.checked_in); set("k-visits", d.today.visits);
      set("k-success", pct(d.today.success_rate), "%"); set("k-transfer", pct(d.today.transfer_rate), "%");
      set("k-progress", Object.values(d.calls_in_progress).reduce((a, b) => a + b, 0));
      set("k-p50", d.latency.p50_ms, " ms"); set("k-p95", d.latency.p95_ms, " ms"); set("k-replies", d.latency.count);
      const n = d.notifications;
      set("k-delivered", n.delivered_24h); set("k-np50", n.p50_s, " s"); set("k-np95", n.p95_s, " s");
      set("k-backlog", n.pending + n.sending); set("k-overdue", n.overdue); set("k-failed", n.failed_24h);
      const printer = d.providers.find((p) => p.name === "printer");
      $("printer").textContent = printer ? (label(printer.status) + " (" + printer.mode + ")" + (printer.last_error_code ? " · last error " + printer.last_error_code : "")) : "no data";
      $("printer").dataset.status = printer ? printer.status : "";
      $("updated").textContent = new Date().toLocaleTimeString();
    } catch (err) {
      $("overall").className = "overall degraded";
      $("overall-text").textContent = "Dashboard cannot reach the service";
    }
  }
  load();
  setInterval(load, refresh * 1000);
})();
