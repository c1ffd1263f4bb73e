// Investigation pages: sign-in, the reason dialog (first, before any search), the five
// searches of the search API, their results, the map of their cameras and the exports.
// Vanilla JS served by the node (closed network); builds text nodes only, never HTML.
// The node decides everything: this page only checks that the answers are not empty.
(function () {
  "use strict";

  const root = document.getElementById("investigate");
  if (!root) return;
  const $ = function (id) { return document.getElementById(id); };
  const data = JSON.parse($("investigate-data").textContent);
  const api = new URL(root.dataset.api, document.baseURI);
  const TOKEN_KEY = "kruispunt.investigate.token";
  // Refusals about the answers themselves: the dialog reopens with the node's message.
  const WHY_CODES = ["vague_reason", "invalid_case", "invalid_purpose", "role_not_allowed",
    "approval_required"];
  const TABS = ["plate", "place", "multi", "convoy", "journey"];
  const MAX_SITES = 10;
  const MIN_SITES = 2;

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

  // -- small helpers ---------------------------------------------------------------------
  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

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

  function num(value) { return { value: value, cls: "num" }; }

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

  function cameraLabel(id) {
    const c = data.cameras[id];
    return c ? id + " · " + c.name : id;
  }

  function purposeLabel(value) {
    const p = data.purposes.find(function (x) { return x.value === value; });
    return p ? p.label : value;
  }

  function setStatus(tab, text) { $(tab + "-status").textContent = text; }
  function setError(tab, text) { $(tab + "-error").textContent = text; }

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

  // A search: its answer, or null after showing why there is none.
  async function search(tab, path, body, retry) {
    if (!state.why) { state.pending = retry; openWhy(""); return null; }
    setError(tab, "");
    setStatus(tab, "Searching…");
    let resp;
    let doc = null;
    try {
      resp = await send("POST", path, withWhy(body));
      doc = await resp.json().catch(function () { return null; });
    } catch (err) {
      setStatus(tab, "");
      setError(tab, "The node did not answer: " + (err.message || err));
      return null;
    }
    setStatus(tab, "");
    if (!resp.ok) { refused(tab, resp, doc, retry); return null; }
    return doc;
  }

  function refused(tab, resp, doc, retry) {
    const error = (doc && doc.error) ||
      { code: "http_" + resp.status, message: resp.statusText || "refused" };
    if (resp.status === 401) {
      signOut("The node no longer accepts your session or token: sign in again.");
      return;
    }
    setError(tab, "Refused: " + error.message + " (" + error.code + ")");
    if (WHY_CODES.indexOf(error.code) >= 0) {
      state.pending = retry;
      openWhy(error.message, error.code);
    }
    if (error.refused && error.refused.length) { // nothing_readable: say what would open it
      const box = $(tab + "-decision");
      box.replaceChildren(cutBox(error.refused, "Nothing of the period can be read:"));
      box.hidden = false;
    }
  }

  // -- the gate's decision: what was read, what was cut and why -----------------------------
  function cutBox(refusals, heading) {
    const box = h("div", "cut-box");
    box.setAttribute("role", "note");
    box.append(h("strong", null, heading));
    const list = h("ul", "cut-list");
    for (const r of refusals) {
      let text = when(r.since_us) + " to " + when(r.until_us) + ": " + r.message.replace(/\.?$/, ".");
      if (r.needs && r.needs !== "none") text += " Needs: " + r.needs.replace(/_/g, " ") + ".";
      if (r.allowed_purposes && r.allowed_purposes.length) {
        text += " Purposes that may read it: " + r.allowed_purposes.map(purposeLabel).join(", ") + ".";
      }
      if (r.source) text += " (" + r.source + ")";
      const li = h("li", null, text);
      li.dataset.code = r.code;
      list.append(li);
    }
    box.append(list);
    return box;
  }

  function windowsText(decision) {
    return decision.windows.map(function (w) {
      return when(w.since_us) + " to " + when(w.until_us) + " (" + w.tier +
        (w.authorisation ? ", authorisation " + w.authorisation : "") + ")";
    }).join("; ");
  }

  // Cameras named (or in the area) that belong to zones the caller may not see.
  function hiddenBox(ids) {
    const box = h("div", "cut-box not-visible");
    box.setAttribute("role", "note");
    box.append(h("strong", null, "Not searched, their zones are not yours nor granted to you: "),
      ids.map(cameraLabel).join(", ") + ".");
    return box;
  }

  function showDecision(tab, decision, notVisible) {
    const box = $(tab + "-decision");
    const hidden = notVisible || [];
    box.replaceChildren();
    box.classList.toggle("incomplete", !decision.complete || hidden.length > 0);
    box.append(h("p", null, "Searched for " + purposeLabel(decision.purpose) + ", case " +
      decision.case + (decision.approval_id ? ", approval " + decision.approval_id : "") +
      ". Zones read: " + decision.zones.map(zoneLabel).join(", ") + "."));
    box.append(h("p", null, "Periods read: " + (windowsText(decision) || "none") + "."));
    if (decision.complete) {
      box.append(h("p", "complete", "The whole period asked for was searched."));
    } else {
      box.append(cutBox(decision.refused, "Part of the period was NOT searched:"));
    }
    if (hidden.length) box.append(hiddenBox(hidden));
    if (decision.ignored_authorisations && decision.ignored_authorisations.length) {
      const list = h("ul", "cut-list");
      for (const i of decision.ignored_authorisations) {
        list.append(h("li", null, "Authorisation " + i.reference + " not used: " + i.problem));
      }
      box.append(list);
    }
    box.hidden = false;
  }

  // -- the map: the results' cameras on the node's base map, in the server's projection ------
  const svg = document.querySelector(".inv-map svg.map");
  const NS = "http://www.w3.org/2000/svg";
  const P = data.map;
  const wholeBox = svg.getAttribute("viewBox");
  const layer = document.createElementNS(NS, "g");
  layer.setAttribute("class", "inv-layer");
  svg.append(layer);

  function project(lon, lat) {
    return [(lon - P.west) * P.cos_lat * P.scale, (P.north - lat) * P.scale];
  }

  function svgEl(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function frame(points) {
    // The points and some land around them; a street's width is too close to read the map.
    const xs = points.map(function (p) { return p[0]; });
    const ys = points.map(function (p) { return p[1]; });
    const aspect = P.height / P.width;
    let w = Math.max(Math.max.apply(null, xs) - Math.min.apply(null, xs), 0) * 1.3 + 20;
    let hh = Math.max(Math.max.apply(null, ys) - Math.min.apply(null, ys), 0) * 1.3 + 20;
    w = Math.max(w, hh / aspect, 100);
    hh = w * aspect;
    const cx = (Math.max.apply(null, xs) + Math.min.apply(null, xs)) / 2;
    const cy = (Math.max.apply(null, ys) + Math.min.apply(null, ys)) / 2;
    return [cx - w / 2, cy - hh / 2, w, hh];
  }

  function position(id, known) {
    const c = (known && known[id]) || data.cameras[id];
    return c ? { lon: c.lon, lat: c.lat } : null;
  }

  // points: [{id, title}] in the order to number them; route: camera ids in time order.
  function setMap(tab, points, route, note, known) {
    const placed = [];
    for (const p of points) {
      const at = position(p.id, known);
      if (at) placed.push({ id: p.id, title: p.title, lon: at.lon, lat: at.lat });
    }
    state.maps[tab] = { points: placed, route: route || [], note: note };
    if (state.tab === tab) drawMap();
  }

  function drawMap() {
    const m = state.maps[state.tab];
    layer.replaceChildren();
    if (!m || m.points.length === 0) {
      svg.setAttribute("viewBox", wholeBox);
      $("map-note").textContent = m ? m.note : "The cameras of the results appear here.";
      return;
    }
    const xy = {};
    for (const p of m.points) xy[p.id] = project(p.lon, p.lat);
    const box = frame(Object.values(xy));
    svg.setAttribute("viewBox", box.map(function (v) { return v.toFixed(1); }).join(" "));
    const unit = box[2] / 100;
    const path = m.route.filter(function (id) { return xy[id]; });
    if (path.length > 1) {
      layer.append(svgEl("polyline", {
        class: "inv-route",
        points: path.map(function (id) { return xy[id][0].toFixed(2) + "," + xy[id][1].toFixed(2); }).join(" "),
      }));
    }
    m.points.forEach(function (p, i) {
      const [x, y] = xy[p.id];
      const dot = svgEl("circle", {
        class: "inv-point", "data-camera": p.id, cx: x.toFixed(2), cy: y.toFixed(2),
        r: (unit * 1.4).toFixed(2),
      });
      const title = document.createElementNS(NS, "title");
      title.textContent = (i + 1) + ". " + p.title;
      dot.append(title);
      layer.append(dot);
      const label = svgEl("text", {
        class: "inv-label", x: (x + unit * 1.8).toFixed(2), y: (y - unit * 1.2).toFixed(2),
        "font-size": (unit * 3.2).toFixed(2),
      });
      label.textContent = String(i + 1);
      layer.append(label);
    });
    $("map-note").textContent = m.note;
  }

  function routeOf(ids) { // consecutive repeats at one camera are one passage
    const out = [];
    for (const id of ids) if (out[out.length - 1] !== id) out.push(id);
    return out;
  }

  function distinct(ids) { return Array.from(new Set(ids)); }

  // -- tabs --------------------------------------------------------------------------------
  function selectTab(tab, focus) {
    state.tab = tab;
    for (const t of TABS) {
      const button = $("tab-" + t);
      const on = t === tab;
      button.setAttribute("aria-selected", on ? "true" : "false");
      button.tabIndex = on ? 0 : -1;
      $("panel-" + t).hidden = !on;
      if (on && focus) button.focus();
    }
    drawMap();
  }

  function onTabKey(event) {
    const i = TABS.indexOf(state.tab);
    const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    selectTab(TABS[(moves[event.key] + TABS.length) % TABS.length], true);
  }

  // -- plate search ------------------------------------------------------------------------
  function plateBody(form) {
    const f = form.elements;
    const body = {
      plate: f.namedItem("plate").value.trim(),
      confusable: f.namedItem("confusable").checked,
      limit: intOf(f, "limit", 50),
    };
    if (!body.plate) throw new LocalError("Give a plate.");
    addWindow(body, f);
    addPlaces(body, f);
    addFilters(body, f);
    return body;
  }

  function plateRow(r, n, known) {
    const pick = h("input");
    pick.type = "checkbox";
    pick.value = String(r.seq);
    pick.className = "evidence-pick";
    pick.setAttribute("aria-label", "Read " + n + " in the evidence package");
    const plate = h("span", "plate", r.plate_raw);
    if (r.plate_raw !== r.plate) plate.title = "normalised: " + r.plate;
    const camera = known[r.camera_id];
    const tr = row([
      pick, num(n), timeEl(r.captured_us),
      r.camera_id + (camera ? " · " + camera.name : ""), zoneLabel(r.zone_id),
      r.direction, plate, { value: r.match, cls: "match match-" + r.match },
      num(Math.round(r.confidence * 100) + "%"),
    ]);
    tr.dataset.seq = String(r.seq);
    tr.dataset.camera = r.camera_id;
    return tr;
  }

  async function runPlate(more) {
    const st = state.plate;
    const body = Object.assign({}, st.body, more && st.cursor ? { cursor: st.cursor } : {});
    const out = await search("plate", "search/plates", body, function () { runPlate(more); });
    if (!out) return;
    if (!more) {
      st.reads = [];
      st.cameras = {};
      $("plate-table").tBodies[0].replaceChildren();
    }
    for (const c of out.cameras) st.cameras[c.id] = c;
    const tbody = $("plate-table").tBodies[0];
    for (const r of out.reads) {
      st.reads.push(r);
      tbody.append(plateRow(r, st.reads.length, st.cameras));
    }
    st.cursor = out.next_cursor;
    $("plate-more").hidden = !st.cursor;
    const kind = out.kind === "pattern" ? "partial plate " : "plate ";
    $("plate-summary").textContent = st.reads.length + " read" + (st.reads.length === 1 ? "" : "s") +
      " of " + kind + out.plate + (out.confusable ? " (with confusable characters)" : "") +
      (st.cursor ? "; more on the next page." : ".");
    showDecision("plate", out.decision, out.not_visible);
    $("plate-results").hidden = false;
    setStatus("plate", more ? count(out.reads.length, "more read") + "." :
      st.reads.length === 0 ? "No read found." : count(st.reads.length, "read") + " found.");
    const perCamera = {};
    for (const r of st.reads) perCamera[r.camera_id] = (perCamera[r.camera_id] || 0) + 1;
    const ids = routeOf(st.reads.map(function (r) { return r.camera_id; }));
    setMap("plate", distinct(ids).map(function (id) {
      return { id: id, title: cameraLabel(id) + ": " + count(perCamera[id], "read") };
    }), ids, count(distinct(ids).length, "camera") + " of the plate search, numbered by first read; " +
      "the line joins them in time order.", st.cameras);
  }

  function filename(resp, fallback) {
    const cd = resp.headers.get("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(cd);
    return m ? m[1] : fallback;
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = h("a");
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
  }

  async function download(kind) {
    const st = state.plate;
    if (!st.body || !state.why) return;
    const body = Object.assign({}, st.body);
    delete body.limit; // the export holds the whole search, up to the node's cap
    let path = "search/plates/export?format=" + kind;
    if (kind === "evidence") {
      path = "search/plates/evidence";
      const seqs = Array.from(document.querySelectorAll("#plate-table .evidence-pick:checked"),
        function (c) { return Number(c.value); });
      if (seqs.length) body.seqs = seqs;
    }
    setError("plate", "");
    setStatus("plate", "Preparing the file…");
    let resp;
    try {
      resp = await send("POST", path, withWhy(body));
    } catch (err) {
      setStatus("plate", "");
      setError("plate", "The node did not answer: " + (err.message || err));
      return;
    }
    if (!resp.ok) {
      setStatus("plate", "");
      const doc = await resp.json().catch(function () { return null; });
      refused("plate", resp, doc, function () { download(kind); });
      return;
    }
    const name = filename(resp, "kruispunt-search." + (kind === "evidence" ? "zip" : kind));
    save(await resp.blob(), name);
    const capped = resp.headers.get("X-Kruispunt-Truncated") === "true";
    setStatus("plate", "Downloaded " + name + (capped ?
      ": capped by the node, not every read is in it." : "."));
  }

  // -- place and time ----------------------------------------------------------------------
  function placeBody(form) {
    const f = form.elements;
    const body = { limit: intOf(f, "limit", 100) };
    addWindow(body, f);
    if (!body.since || !body.until) throw new LocalError("Give the window: from and until.");
    addPlaces(body, f);
    const area = f.namedItem("area").value.trim();
    if (area) {
      try { body.area = JSON.parse(area); } catch (err) {
        throw new LocalError("Area: not GeoJSON (" + err.message + ")");
      }
    }
    addFilters(body, f);
    return body;
  }

  async function runPlace(step) { // "count", then "list", then "more"
    const st = state.place;
    const body = Object.assign({}, st.body);
    if (step !== "count") body.list = true;
    if (step === "more") body.cursor = st.cursor;
    const out = await search("place", "search/place-time", body, function () { runPlace(step); });
    if (!out) return;
    const c = out.counts;
    $("place-counts").textContent = count(c.reads, "read") + " of " +
      count(c.vehicles, "vehicle") + " at " + c.cameras.length + " of the " +
      count(out.cameras.length, "camera") + " searched.";
    const known = {};
    for (const cam of out.cameras) known[cam.id] = cam;
    const perCamera = {};
    $("place-cameras").tBodies[0].replaceChildren.apply($("place-cameras").tBodies[0],
      c.cameras.map(function (x) {
        perCamera[x.camera_id] = x;
        const cam = known[x.camera_id];
        return row([cameraLabel(x.camera_id), cam ? zoneLabel(cam.zone_id) : null,
          num(x.reads), num(x.vehicles)]);
      }));
    showDecision("place", out.decision, out.not_visible);
    $("place-results").hidden = false;
    const vehicles = $("place-vehicles");
    const withheld = $("place-withheld");
    if (step === "count") {
      $("place-list").hidden = c.vehicles === 0;
      vehicles.hidden = true;
      withheld.hidden = true;
      $("place-more").hidden = true;
      setStatus("place", count(c.reads, "read") + " of " + count(c.vehicles, "vehicle") + ".");
    } else if (out.withheld || !out.vehicles) {
      withheld.textContent = "The list is withheld: " + (out.withheld || "not given") + ".";
      withheld.hidden = false;
      vehicles.hidden = true;
      $("place-more").hidden = true;
    } else {
      const tbody = vehicles.tBodies[0];
      if (step === "list") tbody.replaceChildren();
      for (const v of out.vehicles) {
        tbody.append(row([{ value: h("span", "plate", v.plate) }, v.country, num(v.reads),
          timeEl(v.first_us), timeEl(v.last_us), v.cameras.join(", ")]));
      }
      vehicles.hidden = false;
      withheld.hidden = true;
      st.cursor = out.next_cursor;
      $("place-more").hidden = !st.cursor;
      setStatus("place", count(tbody.rows.length, "vehicle") + " listed" +
        (st.cursor ? "; more on the next page." : "."));
    }
    setMap("place", out.cameras.map(function (cam) {
      const n = perCamera[cam.id];
      return { id: cam.id, title: cameraLabel(cam.id) + ": " + count(n ? n.reads : 0, "read") };
    }), [], count(out.cameras.length, "camera") + " searched.", known);
  }

  // -- multi-site --------------------------------------------------------------------------
  function addSite() {
    const sites = $("sites");
    if (sites.children.length >= MAX_SITES) return;
    const site = $("site-template").content.firstElementChild.cloneNode(true);
    site.querySelector(".site-remove").addEventListener("click", function () {
      site.remove();
      renumberSites();
    });
    sites.append(site);
    renumberSites();
  }

  function renumberSites() {
    const sites = Array.from($("sites").children);
    sites.forEach(function (s, i) {
      s.querySelector(".site-n").textContent = String(i + 1);
      s.querySelector(".site-remove").hidden = sites.length <= MIN_SITES;
    });
    $("site-add").disabled = sites.length >= MAX_SITES;
  }

  function multiBody(form) {
    const sites = Array.from($("sites").children).map(function (s, i) {
      const f = s.elements;
      const site = {};
      addWindow(site, f);
      if (!site.since || !site.until) throw new LocalError("Site " + (i + 1) + ": give its window.");
      const label = f.namedItem("label").value.trim();
      if (label) site.label = label;
      addPlaces(site, f);
      return site;
    });
    return { sites: sites, min_sites: intOf(form.elements, "min_sites", 2) };
  }

  function siteName(s) { return s.label || "site " + (s.site + 1); }

  async function runMulti(body) {
    const out = await search("multi", "search/multi-site", body, function () { runMulti(body); });
    if (!out) return;
    $("multi-decision").hidden = true;
    const sites = $("multi-sites").tBodies[0];
    sites.replaceChildren();
    for (const s of out.sites) {
      const cut = h("div");
      if (!s.decision.complete) cut.append(cutBox(s.decision.refused, "Not searched:"));
      if (s.not_visible && s.not_visible.length) cut.append(hiddenBox(s.not_visible));
      sites.append(row([num(s.site + 1), s.label, s.cameras.join(", "), num(s.reads),
        num(s.vehicles), cut.childElementCount ? cut : "—"]));
    }
    const tbody = $("multi-vehicles").tBodies[0];
    tbody.replaceChildren();
    out.vehicles.forEach(function (v, i) {
      const seen = v.sightings.map(function (s) {
        return siteName(s) + ": " + s.reads + " read" + (s.reads === 1 ? "" : "s") + ", " +
          when(s.first_us) + (s.last_us !== s.first_us ? " to " + when(s.last_us) : "");
      }).join("; ");
      tbody.append(row([num(i + 1), { value: h("span", "plate", v.plate) }, v.country,
        num(v.sites), num(v.reads), seen]));
    });
    $("multi-results").hidden = false;
    const cut = out.sites.filter(function (s) {
      return !s.decision.complete || (s.not_visible && s.not_visible.length);
    }).length;
    setStatus("multi", count(out.vehicles.length, "vehicle") + " seen at " + body.min_sites +
      " sites or more." + (cut ? " " + count(cut, "site") + " not searched whole: see the table." : ""));
    const ids = distinct([].concat.apply([], out.sites.map(function (s) { return s.cameras; })));
    setMap("multi", ids.map(function (id) { return { id: id, title: cameraLabel(id) }; }), [],
      count(ids.length, "camera") + " of " + out.sites.length + " sites.");
  }

  // -- convoy ------------------------------------------------------------------------------
  function plateWindowBody(form) {
    const f = form.elements;
    const body = { plate: f.namedItem("plate").value.trim() };
    if (!body.plate) throw new LocalError("Give a plate.");
    addWindow(body, f);
    return body;
  }

  function seconds(s) { return (Math.round(s * 10) / 10) + " s"; }

  function evidenceRow(c, known) {
    const details = h("details");
    details.append(h("summary", null, "Evidence: " + c.evidence.length + " shared passages"));
    const table = h("table", "compact evidence");
    const head = h("tr");
    for (const t of ["Camera", "It passed", "This vehicle passed", "Difference"]) {
      const th = h("th", null, t);
      th.scope = "col";
      head.append(th);
    }
    table.append(h("thead"));
    table.tHead.append(head);
    const tbody = h("tbody");
    for (const e of c.evidence) {
      const cam = known[e.camera_id];
      tbody.append(row([e.camera_id + (cam ? " · " + cam.name : ""), timeEl(e.target_us),
        timeEl(e.other_us), (e.delta_s < 0 ? seconds(-e.delta_s) + " before" :
          seconds(e.delta_s) + " after")]));
    }
    table.append(tbody);
    details.append(table);
    const tr = h("tr", "evidence-row");
    const td = h("td");
    td.colSpan = 8;
    td.append(details);
    tr.append(td);
    return tr;
  }

  async function runConvoy(body) {
    const out = await search("convoy", "search/convoy", body, function () { runConvoy(body); });
    if (!out) return;
    const known = {};
    for (const cam of out.cameras) known[cam.id] = cam;
    $("convoy-summary").textContent = count(out.passages, "passage") + " of " + out.plate +
      " looked at" + (out.truncated ? " (more than the node looks at: the newest)" : "") + "; " +
      count(out.companions.length, "vehicle") + " passed with it at least " + body.min_together +
      " times.";
    const tbody = $("convoy-table").tBodies[0];
    tbody.replaceChildren();
    out.companions.forEach(function (c, i) {
      const tr = row([num(i + 1), { value: h("span", "plate", c.plate) }, c.country,
        num(c.together), num(c.cameras), num(c.before), num(c.after), num(seconds(c.mean_gap_s))]);
      tr.className = "companion";
      tbody.append(tr, evidenceRow(c, known));
    });
    showDecision("convoy", out.decision);
    $("convoy-results").hidden = false;
    setStatus("convoy", count(out.companions.length, "companion") + " found.");
    setMap("convoy", out.cameras.map(function (cam) {
      return { id: cam.id, title: cameraLabel(cam.id) };
    }), [], count(out.cameras.length, "camera") + " where " + out.plate + " passed.", known);
  }

  // -- journey -----------------------------------------------------------------------------
  function duration(s) {
    const m = Math.floor(s / 60);
    return m ? m + " min " + Math.round(s - m * 60) + " s" : Math.round(s) + " s";
  }

  function km(m) { return m === null || m === undefined ? null : (m / 1000).toFixed(1) + " km"; }

  function tripSection(trip, i) {
    const section = h("section", "trip");
    section.append(h("h3", null, "Trip " + (i + 1) + ": " + when(trip.start_us) + " to " +
      when(trip.end_us) + " · " + km(trip.distance_m) + " · " + trip.cameras.length + " passages"));
    const table = h("table", "compact legs");
    table.append(h("caption", null, "Legs of trip " + (i + 1)));
    const head = h("tr");
    for (const t of ["From", "To", "Departed", "Arrived", "Time", "Distance", "Average speed"]) {
      const th = h("th", null, t);
      th.scope = "col";
      head.append(th);
    }
    table.append(h("thead"));
    table.tHead.append(head);
    const tbody = h("tbody");
    for (const leg of trip.legs) {
      let speed = leg.avg_kmh === null ? null : Math.round(leg.avg_kmh) + " km/h";
      if (speed && leg.implausible) {
        const cell = h("span", null, speed);
        cell.append(h("br"), h("small", null, "implausible: a cloned plate or a misread?"));
        speed = cell;
      }
      const tr = row([cameraLabel(leg.from_camera), cameraLabel(leg.to_camera),
        timeEl(leg.depart_us), timeEl(leg.arrive_us), num(duration(leg.seconds)),
        num(km(leg.distance_m)), num(speed)]);
      if (leg.implausible) tr.className = "implausible";
      tbody.append(tr);
    }
    table.append(tbody);
    if (trip.legs.length === 0) section.append(h("p", "hint", "One camera only: no leg."));
    else section.append(table);
    return section;
  }

  async function runJourney(body) {
    const out = await search("journey", "search/journey", body, function () { runJourney(body); });
    if (!out) return;
    const known = {};
    for (const cam of out.cameras) known[cam.id] = cam;
    $("journey-summary").textContent = count(out.reads, "read") + " of " + out.plate + " in " +
      count(out.trips.length, "trip") +
      (out.truncated ? " (more reads than the node looks at: the newest)" : "") + ".";
    const note = out.distance_note;
    $("journey-note").textContent = note.charAt(0).toUpperCase() + note.slice(1) + ".";
    $("journey-trips").replaceChildren.apply($("journey-trips"),
      out.trips.map(function (t, i) { return tripSection(t, i); }));
    showDecision("journey", out.decision);
    $("journey-results").hidden = false;
    setStatus("journey", count(out.trips.length, "trip") + " found.");
    const route = routeOf([].concat.apply([], out.trips.map(function (t) { return t.cameras; })));
    setMap("journey", distinct(route).map(function (id) {
      return { id: id, title: cameraLabel(id) };
    }), route, "The route of " + out.plate + ", cameras numbered in the order first passed.",
    known);
  }

  // -- forms -------------------------------------------------------------------------------
  function onSubmit(tab, build, run) {
    $(tab + "-form").addEventListener("submit", function (event) {
      event.preventDefault();
      let body;
      try {
        body = build(event.target);
      } catch (err) {
        if (!(err instanceof LocalError)) throw err;
        setError(tab, err.message);
        return;
      }
      // A new search: what the last one found goes, so a refusal is not read as its answer.
      $(tab + "-results").hidden = true;
      $(tab + "-decision").hidden = true;
      delete state.maps[tab];
      drawMap();
      run(body);
    });
  }

  onSubmit("plate", plateBody, function (body) {
    state.plate.body = body;
    state.plate.cursor = null;
    runPlate(false);
  });
  onSubmit("place", placeBody, function (body) {
    state.place.body = body;
    state.place.cursor = null;
    runPlace("count");
  });
  onSubmit("multi", multiBody, runMulti);
  onSubmit("convoy", function (form) {
    const body = plateWindowBody(form);
    body.gap_s = intOf(form.elements, "gap_s", 60);
    body.min_together = intOf(form.elements, "min_together", 2);
    return body;
  }, runConvoy);
  onSubmit("journey", function (form) {
    const body = plateWindowBody(form);
    body.trip_gap_s = intOf(form.elements, "trip_gap_min", 30) * 60;
    return body;
  }, runJourney);

  $("plate-more").addEventListener("click", function () { runPlate(true); });
  $("export-csv").addEventListener("click", function () { download("csv"); });
  $("export-geojson").addEventListener("click", function () { download("geojson"); });
  $("export-evidence").addEventListener("click", function () { download("evidence"); });
  $("place-list").addEventListener("click", function () { runPlace("list"); });
  $("place-more").addEventListener("click", function () { runPlace("more"); });
  $("site-add").addEventListener("click", addSite);
  for (const t of TABS) {
    $("tab-" + t).addEventListener("click", function () { selectTab(t, false); });
    $("tab-" + t).addEventListener("keydown", onTabKey);
  }
  $("map-all").addEventListener("click", function () {
    layer.replaceChildren();
    svg.setAttribute("viewBox", wholeBox);
  });
  addSite();
  addSite();

  function clearResults() {
    for (const t of TABS) {
      setStatus(t, "");
      setError(t, "");
      $(t + "-decision").hidden = true;
      $(t + "-results").hidden = true;
    }
    state.plate = { body: null, cursor: null, reads: [], cameras: {} };
    state.place = { body: null, cursor: null };
    state.maps = {};
    for (const id of ["plate-table", "place-cameras", "place-vehicles", "multi-sites",
      "multi-vehicles", "convoy-table"]) $(id).tBodies[0].replaceChildren();
    $("journey-trips").replaceChildren();
    drawMap();
  }

  // -- the reason dialog -------------------------------------------------------------------
  const dialog = $("why-dialog");
  const whyInputs = {
    purpose: $("why-purpose-input"), case: $("why-case-input"),
    reason: $("why-reason-input"), approval_id: $("why-approval-input"),
  };
  const FOCUS = { vague_reason: "reason", invalid_case: "case", invalid_purpose: "purpose",
    role_not_allowed: "purpose", approval_required: "approval_id" };

  function openWhy(message, code) {
    const why = state.why || {};
    for (const k of Object.keys(whyInputs)) {
      whyInputs[k].value = why[k] || (k === "purpose" ? whyInputs[k].value : "");
      whyInputs[k].removeAttribute("aria-invalid");
    }
    if (code && FOCUS[code] && FOCUS[code] !== "approval_id") {
      whyInputs[FOCUS[code]].setAttribute("aria-invalid", "true");
    }
    $("why-error").textContent = message ? "The node refused: " + message : "";
    purposeNote();
    if (!dialog.open) dialog.showModal();
    const first = (code && whyInputs[FOCUS[code]]) ||
      Object.values(whyInputs).find(function (i) { return i.required && !i.value; }) ||
      whyInputs.reason;
    first.focus();
  }

  function purposeNote() {
    const p = data.purposes.find(function (x) { return x.value === whyInputs.purpose.value; });
    $("why-purpose-note").textContent = p ? p.note : "";
  }

  function showWhy() {
    const why = state.why;
    $("why-none").hidden = !!why;
    $("why-given").hidden = !why;
    $("why-change").textContent = why ? "Change" : "Give purpose, case and reason";
    $("work").hidden = !why;
    if (!why) return;
    $("why-purpose").textContent = purposeLabel(why.purpose);
    $("why-case").textContent = why.case;
    $("why-reason").textContent = why.reason;
    $("why-approval").textContent = why.approval_id ? "· Approval: " + why.approval_id : "";
  }

  $("why-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const why = {};
    const missing = [];
    for (const k of Object.keys(whyInputs)) {
      why[k] = whyInputs[k].value.trim();
      const empty = whyInputs[k].required && !why[k];
      if (empty) missing.push(whyInputs[k]);
      if (empty) whyInputs[k].setAttribute("aria-invalid", "true");
      else whyInputs[k].removeAttribute("aria-invalid");
    }
    if (missing.length) {
      $("why-error").textContent = "Give a purpose, a case number and a reason.";
      missing[0].focus();
      return;
    }
    if (!why.approval_id) delete why.approval_id;
    const old = state.why;
    if (old && (old.case !== why.case || old.purpose !== why.purpose)) clearResults();
    state.why = why;
    dialog.close();
    showWhy();
    const pending = state.pending;
    state.pending = null;
    if (pending) pending();
  });
  whyInputs.purpose.addEventListener("change", purposeNote);
  $("why-cancel").addEventListener("click", function () {
    state.pending = null;
    dialog.close();
  });
  dialog.addEventListener("cancel", function () { state.pending = null; });
  $("why-change").addEventListener("click", function () { openWhy(""); });

  // -- sign-in -----------------------------------------------------------------------------
  async function useToken(token) {
    state.token = token;
    let resp;
    try {
      resp = await send("GET", "users/me");
    } catch (err) {
      signOut("The node did not answer: " + (err.message || err));
      return;
    }
    if (!resp.ok) {
      signOut(resp.status === 401 ? "The node refused this token." :
        "This sign-in cannot search (" + resp.status + ").");
      return;
    }
    state.me = await resp.json();
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  }

  function start() {
    const me = state.me;
    $("signin").hidden = true;
    $("bar").hidden = false;
    $("signin-error").textContent = "";
    $("whoami").textContent = me.user_id + " · " + zoneLabel(me.zone_id) + " · " +
      me.role.replace(/_/g, " ");
    const allowed = data.role_purposes[me.role] || [];
    for (const option of whyInputs.purpose.options) {
      if (!option.value) continue;
      option.disabled = allowed.indexOf(option.value) < 0;
      option.textContent = purposeLabel(option.value) + (option.disabled ? " (not for your role)" : "");
    }
    if (allowed.length === 1) whyInputs.purpose.value = allowed[0];
    showWhy();
    if (allowed.length === 0) {
      $("role-note").textContent = "Your role (" + me.role.replace(/_/g, " ") +
        ") does not search reads.";
      $("why-change").hidden = true;
      return;
    }
    $("role-note").textContent = "";
    $("why-change").hidden = false;
    if (!state.why) openWhy("");
  }

  function signOut(message, endSession) {
    // Ends a sign-in session on the node too (an API token stays valid: it is not a session).
    if (endSession && state.token) send("POST", "auth/logout").catch(function () { /* gone */ });
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.me = null;
    state.why = null;
    state.pending = null;
    // The next person at this screen sees nothing of the previous session.
    clearResults();
    for (const k of Object.keys(whyInputs)) whyInputs[k].value = "";
    if (dialog.open) dialog.close();
    $("bar").hidden = true;
    $("work").hidden = true;
    $("role-note").textContent = "";
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
  }

  $("signin-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const f = event.target.elements;
    const body = { user_id: f.namedItem("user_id").value.trim(), password: f.namedItem("password").value };
    const code = f.namedItem("totp").value.trim();
    if (code) body.totp = code;
    f.namedItem("password").value = "";
    f.namedItem("totp").value = "";
    let resp;
    try {
      resp = await fetch(new URL("auth/login", api), {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    } catch (err) {
      $("signin-error").textContent = "The node did not answer: " + (err.message || err);
      return;
    }
    const doc = await resp.json().catch(function () { return null; });
    if (!resp.ok) {
      $("signin-error").textContent = doc && doc.error ? doc.error.message : "Sign-in failed.";
      return;
    }
    useToken(doc.token);
  });
  $("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const input = $("token-input");
    const token = input.value.trim();
    input.value = "";
    if (token) useToken(token);
  });
  $("signout").addEventListener("click", function () { signOut("", true); });

  if (state.token) useToken(state.token);
})();
