// Sort a server-rendered table by clicking a header. Cells may carry data-value (the sort key);
// headers say data-sort="number" or "text". Vanilla JS served by the node.
(function () {
  "use strict";

  function key(td, numeric) {
    const raw = td.dataset.value !== undefined ? td.dataset.value : td.textContent.trim();
    return numeric ? Number(raw) : raw;
  }

  function sortBy(table, index, th) {
    const numeric = th.dataset.sort === "number";
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter(function (r) { return r.cells.length > index; });
    rows.sort(function (a, b) {
      const x = key(a.cells[index], numeric);
      const y = key(b.cells[index], numeric);
      const order = numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return ascending ? order : -order;
    });
    body.append.apply(body, rows);
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    Array.from(table.tHead.rows[0].cells).forEach(function (th, index) {
      if (!th.dataset.sort) return;
      // A button makes the header reachable and usable from the keyboard.
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.append.apply(button, Array.from(th.childNodes));
      th.append(button);
      button.addEventListener("click", function () { sortBy(table, index, th); });
    });
  }
})();
