// Investigation page: the map. Each tab's results put their cameras, numbered, on the node's
// base map (an inline SVG in the server's projection), with the route in time order when
// there is one; the map shows the selected tab's and zooms on them.
// Adds to window.kruispuntInvestigate (investigate-core.js, loaded before).
(function () {
  "use strict";

  const inv = window.kruispuntInvestigate;
  if (!inv) return;
  const { $, data, state, camera, cameraLabel } = inv;
  const svg = document.querySelector(".inv-map svg.map");
  const NS = "http://www.w3.org/2000/svg";
  const P = data.map;
  const wholeBox = svg.getAttribute("viewBox");
  const NO_RESULTS = "The cameras of the results appear here.";
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

  // A tab's map. ids: the cameras in the order to number them; title(id): a point's tooltip
  // (default: the camera's name); route: camera ids in time order; known: the answer's cameras.
  function setMap(tab, ids, note, opts) {
    const o = opts || {};
    const placed = [];
    for (const id of ids) {
      const at = camera(id, o.known);
      if (!at) continue;
      const title = o.title ? o.title(id) : cameraLabel(id);
      placed.push({ id: id, title: title, lon: at.lon, lat: at.lat });
    }
    state.maps[tab] = { points: placed, route: o.route || [], note: note };
    if (state.tab === tab) drawMap();
  }

  function clearMap(tab) {
    delete state.maps[tab];
    drawMap();
  }

  function drawMap() {
    const m = state.maps[state.tab];
    layer.replaceChildren();
    if (!m || m.points.length === 0) {
      svg.setAttribute("viewBox", wholeBox);
      $("map-note").textContent = m ? m.note : NO_RESULTS;
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

  $("map-all").addEventListener("click", function () {
    layer.replaceChildren();
    svg.setAttribute("viewBox", wholeBox);
  });

  Object.assign(inv, { setMap, clearMap, drawMap, routeOf, distinct });
})();
