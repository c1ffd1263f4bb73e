// Investigation page: the five searches run and their results rendered: the plate timeline,
// the place-and-time counts and vehicles, the multi-site ranking, the convoy companions and
// the journey's trips, each with the gate's decision and its cameras on the map.
// Adds to window.kruispuntInvestigate (investigate-core.js, -decision.js and -map.js before).
(function () {
  "use strict";

  const inv = window.kruispuntInvestigate;
  if (!inv) return;
  const { $, state, h, row, table, num, plateCell, count, when, timeEl, zoneLabel, cameraLabel,
    byId, setStatus, search, cutBox, hiddenBox, notPoliceBox, showDecision, setMap, routeOf,
    distinct } = inv;

  // -- plate search: the timeline, page after page -----------------------------------------
  function plateRow(r, n, known) {
    const pick = h("input");
    pick.type = "checkbox";
    pick.value = String(r.seq);
    pick.className = "evidence-pick";
    pick.setAttribute("aria-label", "Read " + n + " in the evidence package");
    const plate = plateCell(r.plate_raw);
    if (r.plate_raw !== r.plate) plate.title = "normalised: " + r.plate;
    const tr = row([
      pick, num(n), timeEl(r.captured_us), cameraLabel(r.camera_id, known), zoneLabel(r.zone_id),
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
    const tbody = $("plate-table").tBodies[0];
    if (!more) {
      st.reads = [];
      st.cameras = {};
      tbody.replaceChildren();
    }
    byId(out.cameras, st.cameras);
    for (const r of out.reads) {
      st.reads.push(r);
      tbody.append(plateRow(r, st.reads.length, st.cameras));
    }
    st.cursor = out.next_cursor;
    $("plate-more").hidden = !st.cursor;
    const kind = out.kind === "pattern" ? "partial plate " : "plate ";
    $("plate-summary").textContent = count(st.reads.length, "read") + " of " + kind + out.plate +
      (out.confusable ? " (with confusable characters)" : "") +
      (st.cursor ? "; more on the next page." : ".");
    showDecision("plate", out.decision, out.not_visible, out.not_police);
    $("plate-results").hidden = false;
    setStatus("plate", more ? count(out.reads.length, "more read") + "." :
      st.reads.length === 0 ? "No read found." : count(st.reads.length, "read") + " found.");
    const perCamera = {};
    for (const r of st.reads) perCamera[r.camera_id] = (perCamera[r.camera_id] || 0) + 1;
    const route = routeOf(st.reads.map(function (r) { return r.camera_id; }));
    const ids = distinct(route);
    setMap("plate", ids, count(ids.length, "camera") + " of the plate search, numbered by " +
      "first read; the line joins them in time order.", {
      route: route, known: st.cameras,
      title: function (id) { return cameraLabel(id, st.cameras) + ": " + count(perCamera[id], "read"); },
    });
  }

  // -- place and time: the counts first, the vehicles when asked -----------------------------
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
    const known = byId(out.cameras);
    const perCamera = {};
    $("place-cameras").tBodies[0].replaceChildren(...c.cameras.map(function (x) {
      perCamera[x.camera_id] = x;
      const cam = known[x.camera_id];
      return row([cameraLabel(x.camera_id, known), cam ? zoneLabel(cam.zone_id) : null,
        num(x.reads), num(x.vehicles)]);
    }));
    showDecision("place", out.decision, out.not_visible, out.not_police);
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
        tbody.append(row([plateCell(v.plate), v.country, num(v.reads),
          timeEl(v.first_us), timeEl(v.last_us), v.cameras.join(", ")]));
      }
      vehicles.hidden = false;
      withheld.hidden = true;
      st.cursor = out.next_cursor;
      $("place-more").hidden = !st.cursor;
      setStatus("place", count(tbody.rows.length, "vehicle") + " listed" +
        (st.cursor ? "; more on the next page." : "."));
    }
    setMap("place", out.cameras.map(function (cam) { return cam.id; }),
      count(out.cameras.length, "camera") + " searched.", {
        known: known,
        title: function (id) {
          const n = perCamera[id];
          return cameraLabel(id, known) + ": " + count(n ? n.reads : 0, "read");
        },
      });
  }

  // -- multi-site: the vehicles seen at several sites ----------------------------------------
  function siteName(s) { return s.label || "site " + (s.site + 1); }

  async function runMulti(body) {
    const out = await search("multi", "search/multi-site", body, function () { runMulti(body); });
    if (!out) return;
    $("multi-decision").hidden = true; // each site has its own: in the sites table
    $("multi-sites").tBodies[0].replaceChildren(...out.sites.map(function (s) {
      const cut = h("div");
      if (!s.decision.complete) cut.append(cutBox(s.decision.refused, "Not searched:"));
      if (s.not_visible && s.not_visible.length) cut.append(hiddenBox(s.not_visible));
      if (s.not_police && s.not_police.length) cut.append(notPoliceBox(s.not_police));
      return row([num(s.site + 1), s.label, s.cameras.join(", "), num(s.reads),
        num(s.vehicles), cut.childElementCount ? cut : "—"]);
    }));
    $("multi-vehicles").tBodies[0].replaceChildren(...out.vehicles.map(function (v, i) {
      const seen = v.sightings.map(function (s) {
        return siteName(s) + ": " + count(s.reads, "read") + ", " + when(s.first_us) +
          (s.last_us !== s.first_us ? " to " + when(s.last_us) : "");
      }).join("; ");
      return row([num(i + 1), plateCell(v.plate), v.country, num(v.sites), num(v.reads), seen]);
    }));
    $("multi-results").hidden = false;
    const cut = out.sites.filter(function (s) {
      return !s.decision.complete || (s.not_visible && s.not_visible.length) ||
        (s.not_police && s.not_police.length);
    }).length;
    setStatus("multi", count(out.vehicles.length, "vehicle") + " seen at " + body.min_sites +
      " sites or more." + (cut ? " " + count(cut, "site") + " not searched whole: see the table." : ""));
    const ids = distinct(out.sites.flatMap(function (s) { return s.cameras; }));
    setMap("multi", ids, count(ids.length, "camera") + " of " + out.sites.length + " sites.");
  }

  // -- convoy: the vehicles travelling with a plate -----------------------------------------
  function seconds(s) { return (Math.round(s * 10) / 10) + " s"; }

  function evidenceRow(c, known) {
    const details = h("details");
    details.append(h("summary", null, "Evidence: " + c.evidence.length + " shared passages"));
    details.append(table("compact evidence", null,
      ["Camera", "It passed", "This vehicle passed", "Difference"],
      c.evidence.map(function (e) {
        return row([cameraLabel(e.camera_id, known), timeEl(e.target_us), timeEl(e.other_us),
          e.delta_s < 0 ? seconds(-e.delta_s) + " before" : seconds(e.delta_s) + " after"]);
      })));
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
    const known = byId(out.cameras);
    $("convoy-summary").textContent = count(out.passages, "passage") + " of " + out.plate +
      " looked at" + (out.truncated ? " (more than the node looks at: the newest)" : "") + "; " +
      count(out.companions.length, "vehicle") + " passed with it at least " + body.min_together +
      " times.";
    const tbody = $("convoy-table").tBodies[0];
    tbody.replaceChildren();
    out.companions.forEach(function (c, i) {
      const tr = row([num(i + 1), plateCell(c.plate), c.country, num(c.together),
        num(c.cameras), num(c.before), num(c.after), num(seconds(c.mean_gap_s))]);
      tr.className = "companion";
      tbody.append(tr, evidenceRow(c, known));
    });
    showDecision("convoy", out.decision);
    $("convoy-results").hidden = false;
    setStatus("convoy", count(out.companions.length, "companion") + " found.");
    setMap("convoy", out.cameras.map(function (cam) { return cam.id; }),
      count(out.cameras.length, "camera") + " where " + out.plate + " passed.", { known: known });
  }

  // -- journey: the trips of a plate, leg by leg ---------------------------------------------
  function duration(s) {
    const m = Math.floor(s / 60);
    return m ? m + " min " + Math.round(s - m * 60) + " s" : Math.round(s) + " s";
  }

  function km(m) { return m === null || m === undefined ? null : (m / 1000).toFixed(1) + " km"; }

  function legRow(leg, known) {
    let speed = leg.avg_kmh === null ? null : Math.round(leg.avg_kmh) + " km/h";
    if (speed && leg.implausible) {
      const cell = h("span", null, speed);
      cell.append(h("br"), h("small", null, "implausible: a cloned plate or a misread?"));
      speed = cell;
    }
    const tr = row([cameraLabel(leg.from_camera, known), cameraLabel(leg.to_camera, known),
      timeEl(leg.depart_us), timeEl(leg.arrive_us), num(duration(leg.seconds)),
      num(km(leg.distance_m)), num(speed)]);
    if (leg.implausible) tr.className = "implausible";
    return tr;
  }

  function tripSection(trip, i, known) {
    const section = h("section", "trip");
    section.append(h("h3", null, "Trip " + (i + 1) + ": " + when(trip.start_us) + " to " +
      when(trip.end_us) + " · " + km(trip.distance_m) + " · " + trip.cameras.length + " passages"));
    if (trip.legs.length === 0) {
      section.append(h("p", "hint", "One camera only: no leg."));
    } else {
      section.append(table("compact legs", "Legs of trip " + (i + 1),
        ["From", "To", "Departed", "Arrived", "Time", "Distance", "Average speed"],
        trip.legs.map(function (leg) { return legRow(leg, known); })));
    }
    return section;
  }

  async function runJourney(body) {
    const out = await search("journey", "search/journey", body, function () { runJourney(body); });
    if (!out) return;
    const known = byId(out.cameras);
    $("journey-summary").textContent = count(out.reads, "read") + " of " + out.plate + " in " +
      count(out.trips.length, "trip") +
      (out.truncated ? " (more reads than the node looks at: the newest)" : "") + ".";
    const note = out.distance_note;
    $("journey-note").textContent = note.charAt(0).toUpperCase() + note.slice(1) + ".";
    $("journey-trips").replaceChildren(...out.trips.map(function (t, i) {
      return tripSection(t, i, known);
    }));
    showDecision("journey", out.decision);
    $("journey-results").hidden = false;
    setStatus("journey", count(out.trips.length, "trip") + " found.");
    const route = routeOf(out.trips.flatMap(function (t) { return t.cameras; }));
    setMap("journey", distinct(route), "The route of " + out.plate + ", cameras numbered in " +
      "the order first passed.", { route: route, known: known });
  }

  Object.assign(inv, { runPlate, runPlace, runMulti, runConvoy, runJourney });
})();
