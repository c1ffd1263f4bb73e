// Investigation page: the search forms read into request bodies and submitted, the buttons
// for the next pages, the multi-site form's sites, and the plate search's exports.
// Adds to window.kruispuntInvestigate (the other investigate-*.js files before it).
(function () {
  "use strict";

  const inv = window.kruispuntInvestigate;
  if (!inv) return;
  const { $, state, h, LocalError, addWindow, addPlaces, addFilters, intOf, setStatus, setError,
    post, refused, clearMap, runPlate, runPlace, runMulti, runConvoy, runJourney } = inv;
  const MAX_SITES = 10;
  const MIN_SITES = 2;

  // -- request bodies ----------------------------------------------------------------------
  function plateWindowBody(form) { // an exact or partial plate and the window
    const f = form.elements;
    const body = { plate: f.namedItem("plate").value.trim() };
    if (!body.plate) throw new LocalError("Give a plate.");
    addWindow(body, f);
    return body;
  }

  function plateBody(form) {
    const f = form.elements;
    const body = plateWindowBody(form);
    body.confusable = f.namedItem("confusable").checked;
    body.limit = intOf(f, "limit", 50);
    addPlaces(body, f);
    addFilters(body, f);
    return body;
  }

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

  function convoyBody(form) {
    const body = plateWindowBody(form);
    body.gap_s = intOf(form.elements, "gap_s", 60);
    body.min_together = intOf(form.elements, "min_together", 2);
    return body;
  }

  function journeyBody(form) {
    const body = plateWindowBody(form);
    body.trip_gap_s = intOf(form.elements, "trip_gap_min", 30) * 60;
    return body;
  }

  // -- the multi-site form's sites ---------------------------------------------------------
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

  // -- the exports of the plate search -----------------------------------------------------
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
    const resp = await post("plate", path, body, "Preparing the file…");
    if (!resp) return;
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

  // -- wiring ------------------------------------------------------------------------------
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
      clearMap(tab);
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
  onSubmit("convoy", convoyBody, runConvoy);
  onSubmit("journey", journeyBody, runJourney);

  $("plate-more").addEventListener("click", function () { runPlate(true); });
  $("export-csv").addEventListener("click", function () { download("csv"); });
  $("export-geojson").addEventListener("click", function () { download("geojson"); });
  $("export-evidence").addEventListener("click", function () { download("evidence"); });
  $("place-list").addEventListener("click", function () { runPlace("list"); });
  $("place-more").addEventListener("click", function () { runPlace("more"); });
  $("site-add").addEventListener("click", addSite);
  addSite();
  addSite();
})();
