// Live panel of the overview page: polls the node's status and updates the numbers, the zone
// table, the silent-camera list and the state of the camera dots on the map.
// Vanilla JS served by the node (closed network); builds text nodes only, never HTML.
(function () {
  "use strict";

  const panel = document.getElementById("live");
  if (!panel) return;
  const url = panel.dataset.statusUrl;
  const every = Number(panel.dataset.refreshMs) || 3000;
  const stateLabel = document.getElementById("live-state");
  let previous = null; // {total, at}: for reads per second

  function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
  }

  function setStat(name, text) {
    const el = panel.querySelector('[data-stat="' + name + '"]');
    if (el) el.textContent = text;
  }

  function cell(text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }

  function zoneNames() {
    const names = {};
    for (const row of document.querySelectorAll("#zone-legend tr[data-zone]")) {
      names[row.dataset.zone] = row.dataset.zoneName;
    }
    return names;
  }

  function updateCounters(status, at) {
    setStat("reads_total", thousands(status.reads_total));
    setStat("last_seq", thousands(status.last_seq));
    setStat("pending_reads", thousands(status.pending_reads));
    setStat("commits", thousands(status.commits));
    setStat("backpressure_events", thousands(status.backpressure_events));
    if (previous && at > previous.at) {
      // Retention can drop a day: never show a negative rate.
      const rate = Math.max(0, status.reads_total - previous.total) / ((at - previous.at) / 1000);
      setStat("reads_per_s", rate.toFixed(1));
    }
    previous = { total: status.reads_total, at: at };
  }

  function updateProcessors(processors) {
    const body = document.getElementById("processors");
    if (!body || processors.length === 0) return;
    const rows = processors.map(function (p) {
      const tr = document.createElement("tr");
      tr.append(cell(p.name), cell(thousands(p.cursor), true), cell(thousands(p.lag), true),
        cell(thousands(p.errors), true));
      if (p.errors > 0) tr.className = "warn";
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function updateZones(cameras) {
    const totals = {};
    for (const c of cameras) {
      const t = totals[c.zone_id] || (totals[c.zone_id] = { cameras: 0, reads: 0 });
      t.cameras += 1;
      t.reads += c.reads_last_hour;
    }
    for (const row of document.querySelectorAll("#zone-legend tr[data-zone]")) {
      const t = totals[row.dataset.zone] || { cameras: 0, reads: 0 };
      row.querySelector('[data-field="cameras"]').textContent = thousands(t.cameras);
      row.querySelector('[data-field="reads_last_hour"]').textContent = thousands(t.reads);
    }
  }

  function updateCameras(cameras) {
    const active = new Set();
    for (const c of cameras) if (c.reads_last_hour > 0) active.add(c.camera_id);
    for (const dot of document.querySelectorAll("circle[data-camera]")) {
      const on = active.has(dot.dataset.camera);
      dot.classList.toggle("cam-active", on);
      dot.classList.toggle("cam-silent", !on);
    }
    const names = zoneNames();
    const silent = cameras
      .filter(function (c) { return c.reads_last_hour === 0; })
      .sort(function (a, b) { return a.camera_id < b.camera_id ? -1 : 1; });
    const items = silent.map(function (c) {
      const li = document.createElement("li");
      li.dataset.camera = c.camera_id;
      const zone = document.createElement("small");
      zone.textContent = names[c.zone_id] || c.zone_id;
      li.append(c.camera_id + " ", zone);
      return li;
    });
    const list = document.getElementById("silent-cameras");
    list.replaceChildren.apply(list, items);
    document.getElementById("silent-count").textContent = String(silent.length);
  }

  function showState(ok, text) {
    stateLabel.textContent = text;
    stateLabel.className = "live-state " + (ok ? "ok" : "error");
  }

  async function refresh() {
    try {
      const resp = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const status = await resp.json();
      updateCounters(status, performance.now());
      updateProcessors(status.processors);
      updateZones(status.cameras);
      updateCameras(status.cameras);
      showState(true, "updated " + new Date().toLocaleTimeString("en-GB"));
    } catch (err) {
      showState(false, "no answer from the node (" + err.message + ")");
    } finally {
      window.setTimeout(refresh, every);
    }
  }

  refresh();
})();
