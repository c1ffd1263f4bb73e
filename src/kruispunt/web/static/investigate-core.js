// Investigation page, shared part (loaded first): the page's namespace, its state, the small
// DOM and formatting helpers, the readers of the form fields and the client of the search API.
// The other investigate-*.js files add to the namespace window.kruispuntInvestigate; they are
// plain scripts loaded in order with `defer` (no module, no build step, CSP script-src 'self').
// Vanilla JS served by the node (closed network); builds text nodes only, never HTML.
(function () {
  "use strict";

  const root = document.getElementById("investigate");
  if (!root) return;
  const inv = window.kruispuntInvestigate = {};
  const $ = function (id) { return document.getElementById(id); };
  const data = JSON.parse($("investigate-data").textContent);
  const api = new URL(root.dataset.api, document.baseURI);
  const TOKEN_KEY = "kruispunt.investigate.token";
  // Refusals about the answers themselves: the dialog reopens with the node's message.
  const WHY_CODES = ["vague_reason", "invalid_case", "invalid_purpose", "role_not_allowed",
    "approval_required"];

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    me: null,
    why: null, // {purpose, case, reason, approval_id}: kept for this page only
    pending: null, // the search a refusal interrupted: run again once the dialog is answered
    tab: "plate",
    maps: {}, // tab -> {points: [{id, lon, lat, title}], route: [camera ids], note}
    plate: { body: null, cursor: null, reads: [], cameras: {} },
    place: { body: null, cursor: null },
  };

  // -- DOM and formatting ----------------------------------------------------------------
  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A table row; a cell is text, a node, or {value, cls}. Null or undefined shows as "—".
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const wrapped = c !== null && typeof c === "object" && !(c instanceof Node);
      const td = h("td", wrapped ? c.cls : null);
      const content = wrapped ? c.value : c;
      if (content instanceof Node) td.append(content);
      else td.textContent = content === null || content === undefined ? "—" : String(content);
      tr.append(td);
    }
    return tr;
  }

  // A table built here (not in the template): caption (or null), column headings, rows.
  function table(cls, caption, headings, rows) {
    const t = h("table", cls);
    if (caption) t.append(h("caption", null, caption));
    const head = h("tr");
    for (const text of headings) {
      const th = h("th", null, text);
      th.scope = "col";
      head.append(th);
    }
    t.append(h("thead"));
    t.tHead.append(head);
    const tbody = h("tbody");
    tbody.append(...rows);
    t.append(tbody);
    return t;
  }

  function num(value) { return { value: value, cls: "num" }; }

  function plateCell(plate) { return h("span", "plate", plate); }

  function count(n, word, words) { return n + " " + (n === 1 ? word : words || word + "s"); }

  function pad(n) { return String(n).padStart(2, "0"); }

  function when(us) {
    const d = new Date(us / 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function timeEl(us) {
    const t = h("time", null, when(us));
    t.dateTime = new Date(us / 1000).toISOString();
    return t;
  }

  function zoneLabel(id) { return data.zones[id] ? data.zones[id] + " (" + id + ")" : id; }

  // known: the cameras an answer came with (id -> camera), looked at before the page's own.
  function camera(id, known) { return (known && known[id]) || data.cameras[id] || null; }

  function cameraLabel(id, known) {
    const c = camera(id, known);
    return c ? id + " · " + c.name : id;
  }

  // An answer's cameras by id, added to `into` when given.
  function byId(cameras, into) {
    const out = into || {};
    for (const c of cameras) out[c.id] = c;
    return out;
  }

  function purposeLabel(value) {
    const p = data.purposes.find(function (x) { return x.value === value; });
    return p ? p.label : value;
  }

  function setStatus(tab, text) { $(tab + "-status").textContent = text; }
  function setError(tab, text) { $(tab + "-error").textContent = text; }

  // -- form fields -----------------------------------------------------------------------
  class LocalError extends Error {}

  // A datetime-local value (this computer's time) as ISO 8601 in UTC; empty: null.
  function isoOf(input, label) {
    if (!input.value) return null;
    const d = new Date(input.value);
    if (isNaN(d.getTime())) throw new LocalError(label + ": not a date and time");
    return d.toISOString();
  }

  function selected(select) {
    return Array.from(select.selectedOptions, function (o) { return o.value; });
  }

  function addWindow(body, fields) {
    const since = isoOf(fields.namedItem("since"), "From");
    const until = isoOf(fields.namedItem("until"), "Until");
    if (since) body.since = since;
    if (until) body.until = until;
  }

  function addPlaces(body, fields) {
    body.cameras = selected(fields.namedItem("cameras"));
    body.zones = selected(fields.namedItem("zones"));
  }

  function addFilters(body, fields) {
    for (const name of ["country", "direction", "vehicle_class", "make", "colour"]) {
      const value = fields.namedItem(name).value.trim();
      if (value) body[name] = value;
    }
  }

  function intOf(fields, name, fallback) {
    const n = parseInt(fields.namedItem(name).value, 10);
    return isNaN(n) ? fallback : n;
  }

  // -- talking to the node ---------------------------------------------------------------
  // The reason dialog and the sign-out are investigate.js's (loaded last): looked up when
  // called, through the namespace.
  function send(method, path, body) {
    const init = { method: method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(new URL(path, api), init);
  }

  function withWhy(body) {
    const why = state.why;
    const out = { purpose: why.purpose, case: why.case, reason: why.reason };
    if (why.approval_id) out.approval_id = why.approval_id;
    return Object.assign(out, body);
  }

  // A POST carrying the answers, with `busy` as the tab's status meanwhile: the response, or
  // null after saying the node did not answer.
  async function post(tab, path, body, busy) {
    setError(tab, "");
    setStatus(tab, busy);
    try {
      return await send("POST", path, withWhy(body));
    } catch (err) {
      setStatus(tab, "");
      setError(tab, "The node did not answer: " + (err.message || err));
      return null;
    }
  }

  // A search: its answer, or null after showing why there is none.
  async function search(tab, path, body, retry) {
    if (!state.why) { state.pending = retry; inv.openWhy(""); return null; }
    const resp = await post(tab, path, body, "Searching…");
    if (!resp) return null;
    const doc = await resp.json().catch(function () { return null; });
    setStatus(tab, "");
    if (!resp.ok) { refused(tab, resp, doc, retry); return null; }
    return doc;
  }

  function refused(tab, resp, doc, retry) {
    const error = (doc && doc.error) ||
      { code: "http_" + resp.status, message: resp.statusText || "refused" };
    if (resp.status === 401) {
      inv.signOut("The node no longer accepts your session or token: sign in again.");
      return;
    }
    setError(tab, "Refused: " + error.message + " (" + error.code + ")");
    if (WHY_CODES.indexOf(error.code) >= 0) {
      state.pending = retry;
      inv.openWhy(error.message, error.code);
    }
    if (error.refused && error.refused.length) { // nothing_readable: say what would open it
      const box = $(tab + "-decision");
      box.replaceChildren(inv.cutBox(error.refused, "Nothing of the period can be read:"));
      box.hidden = false;
    }
  }

  Object.assign(inv, {
    $, data, api, state, TOKEN_KEY, TABS: ["plate", "place", "multi", "convoy", "journey"],
    h, row, table, num, plateCell, count, when, timeEl,
    zoneLabel, camera, cameraLabel, byId, purposeLabel, setStatus, setError,
    LocalError, addWindow, addPlaces, addFilters, intOf,
    send, post, search, refused,
  });
})();
