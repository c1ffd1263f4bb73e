// Investigation page, loaded last: sign-in, the reason dialog (first, before any search),
// the tabs, and the clearing of everything shown; then it starts the page. The searches,
// their results and the map are in the other investigate-*.js files, loaded before it and
// shared through window.kruispuntInvestigate (investigate-core.js).
// Vanilla JS served by the node (closed network); builds text nodes only, never HTML.
// The node decides everything: this page only checks that the answers are not empty.
(function () {
  "use strict";

  const inv = window.kruispuntInvestigate;
  if (!inv) return;
  const { $, data, api, state, TOKEN_KEY, TABS, zoneLabel, purposeLabel, setStatus, setError,
    send, drawMap } = inv;

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

  for (const t of TABS) {
    $("tab-" + t).addEventListener("click", function () { selectTab(t, false); });
    $("tab-" + t).addEventListener("keydown", onTabKey);
  }

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

  // The searches (investigate-core.js) reopen the dialog and sign out through these.
  Object.assign(inv, { openWhy, signOut });

  if (state.token) useToken(state.token);
})();
