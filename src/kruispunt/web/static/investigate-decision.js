// Investigation page: the gate's decision shown under a search, what was read, what was cut
// from the period and why, and the cameras left out because their zones are not the caller's.
// Adds to window.kruispuntInvestigate (investigate-core.js, loaded before).
(function () {
  "use strict";

  const inv = window.kruispuntInvestigate;
  if (!inv) return;
  const { $, h, when, zoneLabel, cameraLabel, purposeLabel } = inv;

  // The refusals of a period: each with its window, the node's message and what would open it.
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
      ids.map(function (id) { return cameraLabel(id); }).join(", ") + ".");
    return box;
  }

  // Cameras named (or in the area) registered for no police purpose (LEZ, statistics):
  // purpose limitation keeps their reads out of an investigation.
  function notPoliceBox(ids) {
    const box = h("div", "cut-box not-police");
    box.setAttribute("role", "note");
    box.append(h("strong", null, "Not searched, these cameras serve no police purpose: "),
      ids.map(function (id) { return cameraLabel(id); }).join(", ") + ".");
    return box;
  }

  function showDecision(tab, decision, notVisible, notPolice) {
    const box = $(tab + "-decision");
    const hidden = notVisible || [];
    const other = notPolice || [];
    box.replaceChildren();
    box.classList.toggle("incomplete",
      !decision.complete || hidden.length > 0 || other.length > 0);
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
    if (other.length) box.append(notPoliceBox(other));
    if (decision.ignored_authorisations && decision.ignored_authorisations.length) {
      const list = h("ul", "cut-list");
      for (const i of decision.ignored_authorisations) {
        list.append(h("li", null, "Authorisation " + i.reference + " not used: " + i.problem));
      }
      box.append(list);
    }
    box.hidden = false;
  }

  Object.assign(inv, { cutBox, hiddenBox, notPoliceBox, showDecision });
})();
