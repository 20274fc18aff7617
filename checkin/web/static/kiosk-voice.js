// Spoken kiosk: after the tap on "Check in", the microphone streams to /kiosk/stream (16 kHz
// PCM16 from the kiosk-mic AudioWorklet) and the receptionist's replies play as they arrive.
// Captions show both sides; yes/no, host choices and typing still answer any question (typed
// answers travel on the same socket). Protocol: checkin/voice/browser_stream.py. The page
// keeps nothing when the visit ends: stop() closes the microphone, socket and audio.
(function () {
  "use strict";
  const RATE = 16000;
  const T = {
    en: { listening: "Listening… speak or tap", hearing: "Listening…", thinking: "One moment…",
      speaking: "Speaking…", you: "You" },
  };
  let ws = null, ctx = null, mic = null, node = null, hooks = null, sources = [], timers = [];
  let playhead = 0, state = "listening", ended = false;
  const $ = (id) => document.getElementById(id);
  const languages = (document.body.dataset.voice || "").split(",").filter(Boolean);

  function ensureUi() {
    if ($("voice-status")) return;
    const status = document.createElement("p");
    status.id = "voice-status"; status.className = "k-voice"; status.setAttribute("aria-live", "polite");
    status.hidden = true;
    const dot = document.createElement("span"); dot.className = "k-voice-dot"; dot.setAttribute("aria-hidden", "true");
    const label = document.createElement("span"); label.id = "voice-label";
    status.append(dot, label);
    const heard = document.createElement("p");
    heard.id = "heard"; heard.className = "k-heard"; heard.hidden = true;
    $("caption").before(status, heard);
  }
  function setState(s) {
    state = s;
    const status = $("voice-status");
    if (!status) return;
    status.dataset.state = s;
    $("voice-label").textContent = (T.en)[s] || "";
  }
  function playing() { return ctx && playhead > ctx.currentTime + 0.02; }
  function refresh() { if (!ended) setState(playing() ? "speaking" : (state === "speaking" ? "listening" : state)); }

  function play(buffer) {
    const pcm = new Int16Array(buffer);
    if (!pcm.length || !ctx) return;
    const audio = ctx.createBuffer(1, pcm.length, RATE);
    const data = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = audio; src.connect(ctx.destination);
    const at = Math.max(ctx.currentTime + 0.04, playhead);
    src.start(at);
    playhead = at + audio.duration;
    sources.push(src);
    src.onended = () => { sources = sources.filter((s) => s !== src); refresh(); };
    setState("speaking");
  }
  function mark(name) {
    // Echo once everything queued before the mark has played, as Twilio does for a phone.
    const wait = ctx ? Math.max(0, playhead - ctx.currentTime) : 0;
    const timer = setTimeout(() => { timers = timers.filter((t) => t !== timer); sendJson({ type: "mark", name: name }); }, wait * 1000);
    timers.push(timer);
  }
  function clearAudio() {
    sources.forEach((s) => { try { s.stop(); } catch (e) { /* already ended */ } });
    sources = []; timers.forEach(clearTimeout); timers = [];
    playhead = ctx ? ctx.currentTime : 0;
    setState("hearing");
  }
  function sendJson(msg) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); }

  function onMessage(event) {
    if (typeof event.data !== "string") { play(event.data); return; }
    let msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.type === "mark") mark(msg.name);
    else if (msg.type === "clear") clearAudio();
    else if (msg.type === "state") { if (!playing() || msg.state !== "listening") setState(msg.state); }
    else if (msg.type === "caption" && msg.role === "visitor") {
      $("heard").textContent = msg.text; $("heard").hidden = false; hooks.touch();
    } else if (msg.type === "caption") { $("caption").textContent = msg.text; hooks.touch(); }
    else if (msg.type === "turn") {
      hooks.render({ session_id: null, text: msg.text, state: msg.state, done: msg.done, ask: msg.ask, choices: msg.choices });
      if (msg.done) { ended = true; $("voice-status").hidden = true; }
    }
  }

  function opened(socket) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout")), 8000);
      socket.onopen = () => { clearTimeout(timer); resolve(); };
      socket.onerror = socket.onclose = () => { clearTimeout(timer); reject(new Error("closed")); };
    });
  }

  async function start(lang, h) {
    if (!languages.includes(lang) || !window.AudioWorkletNode || !navigator.mediaDevices) return false;
    hooks = h; ended = false;
    try {
      ctx = new AudioContext();
      await ctx.resume();  // inside the tap, so the autoplay policy lets the replies play
      mic = await navigator.mediaDevices.getUserMedia({ audio: {
        channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
      await ctx.audioWorklet.addModule("/static/kiosk-mic.js");
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(scheme + "//" + location.host + "/kiosk/stream");
      ws.binaryType = "arraybuffer";
      await opened(ws);
    } catch (err) {
      stop();
      return false;  // no microphone, refused, or no room: the typed kiosk carries on
    }
    const socket = ws;
    socket.onmessage = onMessage;
    socket.onclose = () => { if (ws === socket) { const done = ended; stop(); hooks.closed(done); } };
    socket.onerror = null;
    node = new AudioWorkletNode(ctx, "kiosk-mic-capture", { numberOfInputs: 1, numberOfOutputs: 1 });
    node.port.onmessage = (e) => { if (socket.readyState === WebSocket.OPEN) socket.send(e.data); };
    ctx.createMediaStreamSource(mic).connect(node);
    node.connect(ctx.destination);  // silent; keeps the worklet pulled by the graph
    sendJson({ type: "start", language: lang });
    ensureUi();
    $("voice-status").hidden = false; $("heard").hidden = true; $("heard").textContent = "";
    setState("listening");
    return true;
  }

  function stop() {
    const socket = ws;
    ws = null;
    if (socket) { try { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "stop" })); socket.close(); } catch (e) { /* gone */ } }
    timers.forEach(clearTimeout); timers = [];
    sources.forEach((s) => { try { s.stop(); } catch (e) { /* ended */ } }); sources = [];
    if (node) { node.port.onmessage = null; node.disconnect(); node = null; }
    if (mic) { mic.getTracks().forEach((t) => t.stop()); mic = null; }
    if (ctx) { ctx.close().catch(() => {}); ctx = null; }
    playhead = 0;
    if ($("voice-status")) { $("voice-status").hidden = true; $("heard").hidden = true; $("heard").textContent = ""; }
  }

  window.KioskVoice = {
    start: start,
    stop: stop,
    active: () => !!ws && !ended,
    say: (text) => { sendJson({ type: "text", text: text }); },
  };
})();
