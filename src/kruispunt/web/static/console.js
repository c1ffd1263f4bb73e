// Operator console: live hits for the operator's zones over a WebSocket (Server-Sent Events
// as fallback), with a visual and a sound cue, the workflow buttons, and the pursuit map.
// Vanilla JS served by the node (closed network); builds text nodes only, never HTML.
(function () {
  "use strict";

  const root = document.getElementById("console");
  if (!root) return;
  const $ = function (id) { return document.getElementById(id); };
  const data = JSON.parse($("console-data").textContent);
  const api = new URL(root.dataset.api, document.baseURI);
  const TOKEN_KEY = "kruispunt.console.token";
  const MAX_CARDS = 200;
  const FRESH_MS = 120000; // cue only for hits raised in the last two minutes
  const CATEGORIES = {
    stolen_vehicle: "Stolen vehicle", stolen_plate: "Stolen plate",
    wanted_person: "Wanted person", missing_person: "Missing person", uninsured: "Uninsured",
    no_valid_licence: "No valid licence", no_technical_inspection: "No technical inspection",
    investigation: "Investigation / observation", other: "Other",
  };
  const STEPS = { // which buttons a status allows (new → acknowledged → dispatched → closed)
    new: ["acknowledge", "close"], acknowledged: ["dispatch", "close"],
    dispatched: ["close"], closed: [],
  };

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    lastSeq: null, // the last hit seq received: a reconnect resumes after it (no gap)
    hits: new Map(), // id -> {view, el}
    ws: null, es: null, via: "", retryMs: 1000, wsFailures: 0, timer: null, watchdog: null,
    heartbeatS: 15, selected: null, audio: null, stopped: false,
  };

  // -- connection ------------------------------------------------------------------------
  function setConn(text, kind) {
    const el = $("conn-state");
    el.textContent = text;
    el.className = "conn conn-" + kind;
  }

  function streamUrl(path, withToken) {
    const url = new URL(path, document.baseURI);
    if (state.lastSeq !== null) url.searchParams.set("since", String(state.lastSeq));
    else url.searchParams.set("backlog", root.dataset.backlog);
    if (withToken) url.searchParams.set("access_token", state.token);
    return url;
  }

  function connect() {
    disconnect();
    state.stopped = false;
    if (state.wsFailures >= 2 || !("WebSocket" in window)) connectSse();
    else connectWs();
  }

  function disconnect() {
    clearTimeout(state.timer);
    clearTimeout(state.watchdog);
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    if (state.es) { state.es.close(); state.es = null; }
  }

  function retryLater() {
    if (state.stopped) return;
    setConn("reconnecting…", "wait");
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 15000);
  }

  function armWatchdog() {
    clearTimeout(state.watchdog);
    // Three missed heartbeats: the connection is dead even if the socket does not know it.
    state.watchdog = setTimeout(function () {
      if (state.ws) { state.ws.close(); }
    }, state.heartbeatS * 3000);
  }

  function connectWs() {
    const url = streamUrl(root.dataset.wsUrl, false);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    setConn("connecting…", "wait");
    const ws = new WebSocket(url);
    let opened = false;
    state.ws = ws;
    ws.onopen = function () {
      opened = true;
      // The token goes in the first message, not in the URL.
      ws.send(JSON.stringify({ type: "auth", token: state.token }));
    };
    ws.onmessage = function (event) {
      armWatchdog();
      handle(JSON.parse(event.data), "WebSocket");
    };
    ws.onclose = function (event) {
      state.ws = null;
      clearTimeout(state.watchdog);
      if (event.code === 4401) { refused(); return; }
      if (!opened) state.wsFailures += 1;
      retryLater();
    };
  }

  function connectSse() {
    setConn("connecting…", "wait");
    const es = new EventSource(streamUrl(root.dataset.sseUrl, true));
    state.es = es;
    es.onmessage = function (event) { handle(JSON.parse(event.data), "SSE"); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) { // refused (401) or gone: try again later
        state.es = null;
        retryLater();
      } else {
        setConn("reconnecting…", "wait"); // the browser resumes with Last-Event-ID
      }
    };
  }

  function refused() {
    logout("The node refused this token.");
  }

  // -- messages --------------------------------------------------------------------------
  function handle(message, via) {
    if (message.type === "hello") {
      state.retryMs = 1000;
      state.via = via;
      state.heartbeatS = message.heartbeat_s;
      setConn("live (" + via + ")", "live");
      $("whoami").textContent = message.user_id + " · " + zoneName(message.zone_id) +
        " · " + message.role.replace("_", " ");
      const silent = ["operator", "zone_chief", "investigator", "traffic_officer"];
      $("role-note").textContent = silent.indexOf(message.role) < 0 ?
        "This role receives no live hits." : "";
      if (via === "WebSocket") armWatchdog();
    } else if (message.type === "hit") {
      state.lastSeq = Math.max(state.lastSeq || 0, message.seq);
      const fresh = !state.hits.has(message.hit.id);
      show(message.hit);
      if (fresh && Date.now() - message.hit.created_us / 1000 < FRESH_MS) {
        cue(message.hit);
        select(message.hit.id); // the newest live hit is the one to pursue
      } else if (state.selected === null) {
        select(message.hit.id);
      }
    } else if (message.type === "hit_update") {
      if (state.hits.has(message.hit.id)) show(message.hit);
    } else if (message.type === "resync") {
      // This console fell behind: the missed hits follow, re-read from the store; status
      // changes of the hits already on screen may have been lost with the gap: re-read them.
      setConn("live (" + state.via + ", caught up after a gap)", "live");
      refreshShown();
    }
  }

  function refreshShown() {
    state.hits.forEach(function (entry, id) {
      if (entry.view.status === "closed") return;
      request("hits/" + encodeURIComponent(id))
        .then(function (resp) { return resp.ok ? resp.json() : null; })
        .then(function (detail) { if (detail) show(detail.hit); })
        .catch(function () { /* the next update or a reload will tell */ });
    });
  }

  function zoneName(id) { return data.zones[id] || id; }

  function cameraLabel(id) {
    return data.cameras[id] ? id + " · " + data.cameras[id] : id;
  }

  // -- hit cards -------------------------------------------------------------------------
  function show(view) {
    let entry = state.hits.get(view.id);
    if (!entry) {
      const el = $("hit-template").content.firstElementChild.cloneNode(true);
      el.dataset.hitId = view.id;
      el.addEventListener("click", function (e) {
        if (!e.target.closest(".hit-buttons")) select(view.id);
      });
      el.querySelector(".hit-outcome").addEventListener("change", function () { buttons(entry); });
      for (const button of el.querySelectorAll("[data-step]")) {
        button.addEventListener("click", function () { step(entry, button.dataset.step); });
      }
      entry = { view: view, el: el };
      state.hits.set(view.id, entry);
      insertNewestFirst(el, view.seq);
      trim();
    }
    entry.view = view;
    fill(entry);
    $("no-hits").hidden = state.hits.size > 0;
    $("hit-count").textContent = "(" + openCount() + " open)";
    if (state.selected === view.id && view.status === "closed") select(view.id);
  }

  function insertNewestFirst(el, seq) {
    const list = $("hits");
    el.dataset.seq = String(seq);
    for (const other of list.children) {
      if (Number(other.dataset.seq) < seq) { list.insertBefore(el, other); return; }
    }
    list.appendChild(el);
  }

  function trim() {
    const list = $("hits");
    while (list.children.length > MAX_CARDS) {
      const last = list.lastElementChild;
      state.hits.delete(last.dataset.hitId);
      last.remove();
    }
  }

  function openCount() {
    let n = 0;
    for (const entry of state.hits.values()) if (entry.view.status !== "closed") n += 1;
    return n;
  }

  function text(el, selector, value) { el.querySelector(selector).textContent = value; }

  function fill(entry) {
    const v = entry.view;
    const el = entry.el;
    el.dataset.status = v.status;
    el.dataset.camera = v.camera_id;
    el.classList.toggle("has-warnings", v.warnings.length > 0);
    text(el, ".hit-category", CATEGORIES[v.category] || v.category);
    text(el, ".hit-status", v.status + (v.outcome ? ": " + v.outcome.replace(/_/g, " ") : ""));
    el.querySelector(".hit-verify").hidden = !v.verify_image;
    text(el, ".plate", v.plate_read);
    text(el, ".hit-country", v.country || "country unknown");
    text(el, ".hit-confidence", "read " + Math.round(v.confidence * 100) + "%");
    text(el, ".hit-action", "Action: " + v.action);
    const warnings = el.querySelector(".hit-warnings");
    warnings.replaceChildren.apply(warnings, v.warnings.map(function (w) {
      const li = document.createElement("li");
      li.textContent = w;
      return li;
    }));
    text(el, ".hit-camera", cameraLabel(v.camera_id));
    const time = el.querySelector(".hit-time");
    const at = new Date(v.captured_us / 1000);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString();
    text(el, ".hit-owner", "list of " + zoneName(v.owner_zone_id));
    const flags = [];
    if (v.historic) flags.push("historic");
    if (v.late) flags.push("late read");
    text(el, ".hit-flags", flags.join(" · "));
    buttons(entry);
  }

  function buttons(entry) {
    const allowed = STEPS[entry.view.status] || [];
    const el = entry.el;
    for (const button of el.querySelectorAll("[data-step]")) {
      const step = button.dataset.step;
      button.disabled = allowed.indexOf(step) < 0 ||
        (step === "close" && !el.querySelector(".hit-outcome").value);
    }
    const closable = allowed.indexOf("close") >= 0;
    el.querySelector(".hit-outcome").disabled = !closable;
    el.querySelector(".hit-note").disabled = !closable;
  }

  async function step(entry, name) {
    const el = entry.el;
    const note = el.querySelector(".hit-note").value;
    const body = name === "close" ?
      { outcome: el.querySelector(".hit-outcome").value, note: note } : { note: note };
    text(el, ".hit-error", "");
    try {
      const resp = await request("hits/" + encodeURIComponent(entry.view.id) + "/" + name, {
        method: "POST", body: JSON.stringify(body),
      });
      const answer = await resp.json();
      if (!resp.ok) throw new Error(answer.error ? answer.error.message : resp.statusText);
      show(answer);
    } catch (err) {
      text(el, ".hit-error", String(err.message || err));
    }
  }

  function request(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    init.headers.Authorization = "Bearer " + state.token;
    if (init.body) init.headers["Content-Type"] = "application/json";
    return fetch(new URL(path, api), init).then(function (resp) {
      if (resp.status === 401) refused();
      return resp;
    });
  }

  // -- cues ------------------------------------------------------------------------------
  function cue(view) {
    const el = state.hits.get(view.id).el;
    el.classList.remove("flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("flash");
    if ($("sound").checked) beep(view.warnings.length > 0 ? 3 : 2);
  }

  function beep(times) {
    try {
      const ctx = state.audio || (state.audio = new AudioContext());
      if (ctx.state === "suspended") ctx.resume();
      for (let i = 0; i < times; i++) {
        const start = ctx.currentTime + i * 0.22;
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "square";
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.15, start);
        gain.gain.exponentialRampToValueAtTime(0.001, start + 0.16);
        osc.connect(gain).connect(ctx.destination);
        osc.start(start);
        osc.stop(start + 0.17);
      }
    } catch (err) { /* no audio device: the flash remains */ }
  }

  // -- map and pursuit -------------------------------------------------------------------
  const map = document.querySelector(".console-map svg.map");
  const wholeMap = map ? map.getAttribute("viewBox") : null;

  function dotOf(id) {
    return document.querySelector('.map circle[data-camera="' + CSS.escape(id) + '"]');
  }

  function zoomTo(ids) {
    // Frame the hit's camera and its neighbours; the whole province is too coarse to pursue.
    if (!map) return;
    const dots = ids.map(dotOf).filter(Boolean);
    if (dots.length === 0) { map.setAttribute("viewBox", wholeMap); return; }
    const xs = dots.map(function (d) { return Number(d.getAttribute("cx")); });
    const ys = dots.map(function (d) { return Number(d.getAttribute("cy")); });
    const full = wholeMap.split(" ").map(Number);
    const aspect = full[3] / full[2];
    let w = Math.max(Math.max.apply(null, xs) - Math.min.apply(null, xs) + 80, 220);
    const h = Math.max(Math.max.apply(null, ys) - Math.min.apply(null, ys) + 80, w * aspect);
    w = Math.max(w, h / aspect);
    const cx = (Math.max.apply(null, xs) + Math.min.apply(null, xs)) / 2;
    const cy = (Math.max.apply(null, ys) + Math.min.apply(null, ys)) / 2;
    map.setAttribute("viewBox", [cx - w / 2, cy - w * aspect / 2, w, w * aspect]
      .map(function (v) { return v.toFixed(1); }).join(" "));
  }

  function mark(ids, cls) {
    for (const dot of document.querySelectorAll(".map circle." + cls)) dot.classList.remove(cls);
    for (const id of ids) {
      const dot = dotOf(id);
      if (dot) {
        dot.classList.add(cls);
        dot.parentNode.appendChild(dot); // draw it on top
      }
    }
  }

  function place(list, label, detail) {
    const li = document.createElement("li");
    li.textContent = label;
    if (detail) {
      const small = document.createElement("small");
      small.textContent = " " + detail;
      li.append(small);
    }
    list.append(li);
  }

  async function select(id) {
    const entry = state.hits.get(id);
    if (!entry) return;
    state.selected = id;
    for (const el of document.querySelectorAll(".hit.selected")) el.classList.remove("selected");
    entry.el.classList.add("selected");
    const v = entry.view;
    mark([v.camera_id], "cam-hit");
    mark([], "cam-trail");
    mark([], "cam-next");
    zoomTo([v.camera_id]);
    const panel = $("pursuit");
    if (v.status === "closed" || v.historic) { panel.hidden = true; return; }
    panel.hidden = false;
    $("pursuit-hit").textContent = v.plate_read + " at " + v.camera_id;
    const trail = $("trail");
    const next = $("next");
    trail.replaceChildren();
    next.replaceChildren();
    $("trail-note").textContent = "";
    const json = function (resp) { return resp.ok ? resp.json() : null; };
    let answers;
    try {
      answers = await Promise.all([
        request("hits/" + encodeURIComponent(id) + "/trail").then(json),
        request("cameras/" + encodeURIComponent(v.camera_id) + "/next?limit=5").then(json),
      ]);
    } catch (err) {
      answers = [null, null]; // the node is unreachable: the stream reconnects on its own
    }
    if (state.selected !== id) return; // another hit was selected meanwhile: its answers win
    const trailDoc = answers[0];
    const nextDoc = answers[1];
    let trailIds = [];
    let nextIds = [];
    if (trailDoc) {
      for (const p of trailDoc.passages) {
        place(trail, cameraLabel(p.camera_id),
          new Date(p.captured_us / 1000).toLocaleTimeString() + (p.direction ? " · " + p.direction : ""));
      }
      if (trailDoc.passages.length === 0) $("trail-note").textContent = "No other passages.";
      trailIds = trailDoc.passages.map(function (p) { return p.camera_id; })
        .filter(function (c) { return c !== v.camera_id; });
      mark(trailIds, "cam-trail");
    } else {
      $("trail-note").textContent = "No trail: the hit is no longer active.";
    }
    if (nextDoc) {
      for (const c of nextDoc.cameras) {
        place(next, cameraLabel(c.camera_id),
          (c.distance_m / 1000).toFixed(1) + " km" + (c.road ? " · " + c.road : ""));
      }
      nextIds = nextDoc.cameras.map(function (c) { return c.camera_id; });
      mark(nextIds, "cam-next");
    }
    mark([v.camera_id], "cam-hit");
    zoomTo([v.camera_id].concat(trailIds, nextIds));
  }

  // -- login -----------------------------------------------------------------------------
  function start() {
    $("login").hidden = true;
    $("bar").hidden = false;
    $("desk").hidden = false;
    connect();
  }

  function logout(message) {
    state.stopped = true;
    disconnect();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    // The next person at this screen sees nothing of the previous session.
    state.hits.clear();
    state.lastSeq = null;
    state.selected = null;
    $("hits").replaceChildren();
    $("pursuit").hidden = true;
    $("whoami").textContent = "";
    setConn("offline", "off");
    $("login").hidden = false;
    $("bar").hidden = true;
    $("desk").hidden = true;
    $("login-error").textContent = message || "";
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const input = $("token-input");
    state.token = input.value.trim();
    input.value = "";
    if (!state.token) return;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("login-error").textContent = "";
    beep(0); // a user gesture: lets the page play sounds later
    start();
  });
  $("logout").addEventListener("click", function () { logout(""); });
  $("map-all").addEventListener("click", function () { zoomTo([]); });
  document.addEventListener("click", function () {
    if (state.audio && state.audio.state === "suspended") state.audio.resume();
  });
  if (state.token) start();
})();
