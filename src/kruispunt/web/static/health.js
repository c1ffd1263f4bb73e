// Camera health page: filter the server-rendered rows by state without asking the node again
// (the token stays out of further URLs). Vanilla JS served by the node.
(function () {
  "use strict";

  const select = document.getElementById("state-filter");
  const table = document.getElementById("health-table");
  const shown = document.getElementById("shown");
  if (!select || !table) return;

  function apply() {
    const wanted = select.value;
    let visible = 0;
    for (const row of table.tBodies[0].rows) {
      if (!row.dataset.state) continue;
      const show = !wanted || row.dataset.state === wanted;
      row.hidden = !show;
      if (show) visible += 1;
    }
    shown.textContent = visible + " shown";
  }

  select.addEventListener("change", apply);
  document.getElementById("health-filter").addEventListener("submit", function (event) {
    event.preventDefault();
    apply();
  });
  apply();
})();
