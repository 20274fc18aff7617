// Lobby kiosk: a typed check-in through /api/kiosk, one Conversation per visit. The page keeps
// nothing between visits: reset() clears every caption, field and suggestion, and the visit is
// ended on the server when it completes, when "Start over" is tapped or after inactivity.
(function () {
  "use strict";
  const T = {
    en: { welcome: "Welcome", welcome_sub: "Tap to check in", start: "Check in", yes: "Yes", no: "No",
      type_host: "Type the name of the person you are visiting", type_answer: "Type your answer",
      type_or_tap: "Tap yes or no, or type your answer", send: "Send", cancel: "Start over",
      thanks: "Thank you", returning: "This screen resets in a few seconds.",
      error: "Sorry, something went wrong. Please ask at the front desk.",
      expired: "That check-in was interrupted. Please tap to start again." },
    es: { welcome: "Bienvenido", welcome_sub: "Toque para registrarse", start: "Registrarse", yes: "Sí", no: "No",
      type_host: "Escriba el nombre de la persona que visita", type_answer: "Escriba su respuesta",
      type_or_tap: "Toque sí o no, o escriba su respuesta", send: "Enviar", cancel: "Empezar de nuevo",
      thanks: "Gracias", returning: "Esta pantalla se reinicia en unos segundos.",
      error: "Lo sentimos, algo falló. Por favor, pregunte en recepción.",
      expired: "El registro se interrumpió. Toque para empezar de nuevo." },
  };
  const SAY = { en: { yes: "yes", no: "no" }, es: { yes: "sí", no: "no" } };
  const idleS = Number(document.body.dataset.idle) || 60;
  const DONE_S = Number(document.body.dataset.done) || 8;
  const $ = (id) => document.getElementById(id);
  let lang = "en", sid = null, ask = "none", idleTimer = null, doneTimer = null, busy = false, suggestTimer = null, active = -1;

  function t(key) { return (T[lang] || T.en)[key] || T.en[key]; }
  function translate() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    document.querySelectorAll(".lang").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
    setLabel();
  }
  function show(id) { ["welcome", "talk", "done"].forEach((s) => { $(s).hidden = s !== id; }); }
  function setLabel() {
    $("say-label").textContent = ask === "host" || ask === "choice" ? t("type_host") : ask === "yes_no" ? t("type_or_tap") : t("type_answer");
  }
  function touch() {
    clearTimeout(idleTimer);
    if (sid) idleTimer = setTimeout(() => reset(true), idleS * 1000);
  }
  async function post(url, body) {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    if (!r.ok) { const err = new Error("HTTP " + r.status); err.status = r.status; throw err; }
    return r.status === 204 ? null : r.json();
  }
  function clearSuggestions() { $("suggestions").replaceChildren(); $("suggestions").hidden = true; $("say").setAttribute("aria-expanded", "false"); active = -1; }
  function reset(endVisit) {
    const old = sid;
    sid = null; ask = "none";
    clearTimeout(idleTimer); clearTimeout(doneTimer); newsFor = null;
    if (window.KioskVoice) window.KioskVoice.stop();  // spoken visit: kiosk-voice.js
    if (endVisit && old) post("/api/kiosk/visits/" + encodeURIComponent(old) + "/end").catch(() => {});
    $("caption").textContent = ""; $("done-text").textContent = ""; $("say").value = "";
    document.querySelectorAll(".k-host-news").forEach((p) => p.remove());
    $("choices").replaceChildren(); $("choices").hidden = true; $("yesno").hidden = true; $("error").hidden = true;
    clearSuggestions();
    lang = (document.body.dataset.languages || "en").split(",")[0] || "en";
    translate();
    show("welcome");
    $("start").focus();
  }
  // Issue 5: after check-in the "done" screen stays up while the host may answer; the
  // server long-polls and says how long to wait (0 when nobody can answer). Each sentence
  // ("Sarah is on the way.") is shown under the check-in text and spoken where the browser can.
  let newsFor = null;
  function sayAloud(text) {
    if (!("speechSynthesis" in window)) return;
    const u = new SpeechSynthesisUtterance(text);
    u.lang = lang === "es" ? "es-ES" : "en-US";
    window.speechSynthesis.speak(u);
  }
  async function listenForHost(id) {
    newsFor = id;
    let seen = 0;
    while (newsFor === id) {
      let news;
      try {
        const r = await fetch("/api/kiosk/visits/" + encodeURIComponent(id) + "/host-news?seen=" + seen);
        if (!r.ok) break;
        news = await r.json();
      } catch (err) { break; }
      if (newsFor !== id) return;
      (news.sentences || []).forEach((text) => {
        const p = document.createElement("p");
        p.className = "k-host-news"; p.textContent = text;
        ([...document.querySelectorAll(".k-host-news")].pop() || $("done-text")).after(p);
        sayAloud(text);
      });
      seen += (news.sentences || []).length;
      clearTimeout(doneTimer);
      if (!news.more) break;
      doneTimer = setTimeout(() => reset(false), (news.wait_s + DONE_S) * 1000);
    }
    if (newsFor === id) doneTimer = setTimeout(() => reset(false), DONE_S * 1000);
  }
  function render(turn) {
    sid = turn.session_id; ask = turn.ask;
    if (turn.done) {
      $("done-text").textContent = turn.text;
      show("done");
      sid = null;
      clearTimeout(idleTimer);
      doneTimer = setTimeout(() => reset(false), DONE_S * 1000);
      // A spoken visit has no typed session: its socket says the host's answer itself.
      if (turn.session_id) listenForHost(turn.session_id);
      return;
    }
    show("talk");
    $("caption").textContent = turn.text;
    $("yesno").hidden = ask !== "yes_no";
    const choices = $("choices");
    choices.replaceChildren();
    (turn.choices || []).forEach((c) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "k-choice"; b.dataset.say = c.name;
      b.append(document.createTextNode(c.name));
      if (c.department) { const s = document.createElement("small"); s.textContent = c.department; b.append(s); }
      choices.append(b);
    });
    choices.hidden = !(turn.choices || []).length;
    $("say").value = ""; clearSuggestions(); setLabel();
    (ask === "yes_no" ? document.querySelector(".k-yes") : $("say")).focus();
    touch();
  }
  async function send(text) {
    if (window.KioskVoice && window.KioskVoice.active()) { window.KioskVoice.say(text); $("say").value = ""; clearSuggestions(); touch(); return; }
    if (!sid || busy) return;
    busy = true; $("error").hidden = true; touch();
    try { render(await post("/api/kiosk/visits/" + encodeURIComponent(sid) + "/reply", { text: text })); }
    catch (err) {
      // 404: the server no longer has this visit (it timed out, or its replica restarted).
      if (err.status === 404) reset(false);
      $("error").textContent = t(err.status === 404 ? "expired" : "error"); $("error").hidden = false;
    }
    finally { busy = false; }
  }
  // A spoken visit when the microphone and socket are there; render() shows its turns too.
  const voiceHooks = { render: render, touch: touch, closed: (done) => { if (!done) reset(false); } };
  async function start() {
    if (busy) return;
    busy = true; $("error").hidden = true;
    if (window.KioskVoice && await window.KioskVoice.start(lang, voiceHooks).catch(() => false)) { show("talk"); busy = false; return; }
    try { render(await post("/api/kiosk/visits", { language: lang })); }
    catch (err) { $("error").textContent = t("error"); $("error").hidden = false; }
    finally { busy = false; }
  }
  async function suggest() {
    const q = $("say").value.trim();
    if (!(ask === "host" || ask === "choice") || q.length < 2) { clearSuggestions(); return; }
    try {
      const r = await fetch("/api/kiosk/hosts?q=" + encodeURIComponent(q));
      const hosts = r.ok ? await r.json() : [];
      if ($("say").value.trim() !== q) return;
      const list = $("suggestions");
      list.replaceChildren(...hosts.map((h, i) => {
        const li = document.createElement("li");
        li.id = "sugg-" + i; li.setAttribute("role", "option"); li.dataset.name = h.name;
        const dept = document.createElement("span"); dept.textContent = h.department;
        li.append(document.createTextNode(h.name), dept);
        return li;
      }));
      list.hidden = !hosts.length; active = -1;
      $("say").setAttribute("aria-expanded", String(!!hosts.length));
    } catch (err) { clearSuggestions(); }
  }
  function highlight(i) {
    const items = [...$("suggestions").children];
    if (!items.length) return;
    active = (i + items.length) % items.length;
    items.forEach((li, j) => li.setAttribute("aria-selected", String(j === active)));
    $("say").setAttribute("aria-activedescendant", items[active].id);
  }

  $("start").addEventListener("click", start);
  $("cancel").addEventListener("click", () => reset(true));
  document.querySelectorAll(".lang").forEach((b) => b.addEventListener("click", () => {
    lang = b.dataset.lang; translate(); touch();
  }));
  $("yesno").addEventListener("click", (e) => { const b = e.target.closest("button[data-say]"); if (b) send(SAY[lang][b.dataset.say]); });
  $("choices").addEventListener("click", (e) => { const b = e.target.closest("button[data-say]"); if (b) send(b.dataset.say); });
  $("answer").addEventListener("submit", (e) => {
    e.preventDefault();
    const items = [...$("suggestions").children];
    const text = active >= 0 && items[active] ? items[active].dataset.name : $("say").value.trim();
    if (text) send(text);
  });
  $("say").addEventListener("input", () => { touch(); clearTimeout(suggestTimer); suggestTimer = setTimeout(suggest, 150); });
  $("say").addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); highlight(active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
    else if (e.key === "Escape") { clearSuggestions(); }
  });
  $("suggestions").addEventListener("click", (e) => { const li = e.target.closest("li[data-name]"); if (li) { clearSuggestions(); send(li.dataset.name); } });
  document.addEventListener("pointerdown", touch);
  reset(false);
})();
