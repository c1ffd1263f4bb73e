// Operator console: live hits for the operator's zones over a WebSocket (Server-Sent Events
// as fallback), with a visual and a sound cue, the workflow buttons, and the pursuit map;
// beside them the camera alarms of the cameras the operator's zone manages (same stream).
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
  const MAX_ALARMS = 50;
  // Who is told of camera alarms (kruispunt.health.routing.ALARM_ROLES).
  const ALARM_ROLES = ["operator", "zone_chief", "admin"];
  const ALARM_KINDS = {
    silence: "Silent", heartbeat_lost: "Heartbeat lost", rate_drop: "Traffic drop",
    rate_jump: "Traffic jump", low_confidence: "Low-confidence reads", clock_skew: "Clock off",
    upload_delay: "Slow uploads", pair_skew: "Clock off against a neighbour",
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
    zoneId: null, // the signed-in user's zone (from hello): its cameras' alarms are shown
    alarms: new Map(), // alarm id -> {seq, el}: seq of its latest event; el null when not shown
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
      state.zoneId = message.zone_id;
      const alarmed = ALARM_ROLES.indexOf(message.role) >= 0;
      $("camera-alarms").hidden = !alarmed;
      if (alarmed) loadAlarms(); // alarms are not replayed on the stream: ask for the open ones
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
    } else if (message.type === "camera_alarm") {
      alarmEvent(message.alarm, true);
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

  // -- camera alarms ---------------------------------------------------------------------
  // An alarm is raised once and cleared once (kruispunt.health.events); each event has a
  // seq. Events come live and from the alarm history (on connect); per alarm the event with
  // the highest seq wins, so the two sources can arrive in any order.
  function loadAlarms() {
    request("health/alarms?limit=1000")
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (doc) {
        if (!doc) return;
        const latest = new Map();
        for (const e of doc.events) { // newest first
          if (e.manager_zone_id === state.zoneId && !latest.has(e.alarm_id)) {
            latest.set(e.alarm_id, e);
          }
        }
        Array.from(latest.values()).reverse().forEach(function (e) { alarmEvent(e, false); });
      })
      .catch(function () { /* the node is unreachable: the stream reconnects, and asks again */ });
  }

  function alarmEvent(e, live) {
    const known = state.alarms.get(e.alarm_id);
    if (known && known.seq >= e.seq) return; // already told, or older than what we know
    if (e.event === "cleared") {
      if (!known || !known.el) { // cleared before this console showed it
        state.alarms.set(e.alarm_id, { seq: e.seq, el: null });
        return;
      }
      known.seq = e.seq;
      fillAlarm(known.el, e);
      if (live) announce("Camera alarm cleared: " + alarmSummary(e));
    } else {
      const el = known && known.el ? known.el :
        $("alarm-template").content.firstElementChild.cloneNode(true);
      state.alarms.set(e.alarm_id, { seq: e.seq, el: el });
      fillAlarm(el, e);
      if (!el.isConnected) insertAlarm(el, e.seq);
      if (live) {
        announce("Camera alarm: " + alarmSummary(e));
        el.classList.remove("flash");
        void el.offsetWidth; // restart the animation
        el.classList.add("flash");
      }
    }
    trimAlarms();
    alarmCount();
  }

  function alarmSummary(e) {
    return (ALARM_KINDS[e.kind] || e.kind) + ", " + e.severity + ", camera " +
      cameraLabel(e.camera_id) + ": " + e.explanation;
  }

  function announce(message) {
    const el = $("alarm-announce");
    el.textContent = "";
    setTimeout(function () { el.textContent = message; }, 50); // a change is read out
  }

  function clockText(us) {
    const at = new Date(us / 1000);
    return at.toDateString() === new Date().toDateString() ?
      at.toLocaleTimeString() : at.toLocaleString();
  }

  function fillAlarm(el, e) {
    el.dataset.alarmId = e.alarm_id;
    el.dataset.camera = e.camera_id;
    el.dataset.kind = e.kind;
    el.dataset.severity = e.severity;
    el.dataset.state = e.event;
    text(el, ".alarm-kind", ALARM_KINDS[e.kind] || e.kind);
    text(el, ".alarm-severity", e.severity);
    text(el, ".alarm-camera", cameraLabel(e.camera_id));
    text(el, ".alarm-explanation", e.explanation);
    const since = el.querySelector(".alarm-since");
    since.dateTime = new Date(e.since_us / 1000).toISOString();
    since.textContent = clockText(e.since_us);
    text(el, ".alarm-cleared", e.event === "cleared" ? "· cleared " + clockText(e.at_us) : "");
  }

  function insertAlarm(el, seq) {
    const list = $("alarms");
    el.dataset.seq = String(seq);
    for (const other of list.children) {
      if (Number(other.dataset.seq) < seq) { list.insertBefore(el, other); return; }
    }
    list.appendChild(el);
  }

  function trimAlarms() {
    const list = $("alarms");
    while (list.children.length > MAX_ALARMS) { // the oldest cleared one first
      const items = Array.from(list.children);
      const cleared = items.filter(function (li) { return li.dataset.state === "cleared"; });
      const gone = cleared.length ? cleared[cleared.length - 1] : items[items.length - 1];
      const entry = state.alarms.get(gone.dataset.alarmId);
      if (entry) entry.el = null;
      gone.remove();
    }
  }

  function alarmCount() {
    const open = $("alarms").querySelectorAll('li[data-state="raised"]').length;
    $("alarm-count").textContent = open ? "(" + open + " open)" : "";
    $("no-alarms").hidden = $("alarms").children.length > 0;
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
    state.alarms.clear();
    state.zoneId = null;
    $("hits").replaceChildren();
    $("alarms").replaceChildren();
    $("alarm-announce").textContent = "";
    alarmCount();
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
