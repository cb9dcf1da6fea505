/* Operator console of the provincial integration gateway.
   Plain ES2020, no framework and no build step: the gateway serves this file as it is, offline. */
"use strict";

(() => {
  const TZ = "Asia/Ho_Chi_Minh";
  const API = "/api/v1";
  const SESSION = `${API}/console/session`;
  const POLL_MS = 2000;
  const LANGUAGE_KEY = "console.language";
  const LOCALES = { vi: "vi-VN", en: "en-GB" };

  const FRESH = () => ({
    flowsWindow: "5m",
    flows: null,
    trace: { kind: "dossier", query: "" },
    dl: { connector: "", dossier: "", since: "", until: "", state: "open" },
    reportMonth: null,
  });

  const state = {
    session: null,
    language: "vi",
    token: 0,            // bumped on every navigation: answers to an older page are dropped
    pollTimer: null,
    ...FRESH(),          // what the pages remember between visits; forgotten at sign-out
    pollFailed: false,   // the banner shows a polling error; a later good poll clears it
  };

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  /* ---------- words ---------- */

  function dictionary() {
    return window.I18N[state.language] || window.I18N.vi;
  }

  function has(key) {
    return Object.prototype.hasOwnProperty.call(dictionary(), key);
  }

  function t(key, vars) {
    const text = has(key) ? dictionary()[key] : (window.I18N.en[key] ?? key);
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
  }

  // A label for a code (status, system, partner...) when the dictionary knows it, else the code itself.
  function label(prefix, code) {
    if (code === null || code === undefined || code === "") return "–";
    return has(`${prefix}_${code}`) ? t(`${prefix}_${code}`) : String(code);
  }

  /* ---------- DOM ---------- */

  // Builds an element; text goes in through text nodes only, never as HTML.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function table(id, headers, rows, emptyText) {
    const body = el("tbody", {}, rows);
    if (!rows.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: headers.length, text: emptyText || t("none") })));
    return el("table", { id },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))), body);
  }

  function cell(measure, ...content) {
    return el("td", { dataset: { measure } }, content);
  }

  function numCell(measure, text) {
    return el("td", { class: "num", dataset: { measure } }, text);
  }

  function field(id, labelKey, input) {
    return el("div", { class: "field" }, el("label", { for: id, text: t(labelKey) }), input);
  }

  function section(id, titleKey, ...content) {
    return el("section", { id, class: "block" }, el("h2", { text: t(titleKey) }), content);
  }

  function link(href, text, attrs = {}) {
    return el("a", { href, ...attrs }, text);
  }

  /* ---------- formats ---------- */

  const formatters = new Map();

  function formatter(kind, options) {
    const key = `${state.language}|${kind}`;
    if (!formatters.has(key)) {
      const locale = LOCALES[state.language] || "vi-VN";
      formatters.set(key, kind.startsWith("date") ? new Intl.DateTimeFormat("en-GB", options) : new Intl.NumberFormat(locale, options));
    }
    return formatters.get(key);
  }

  function num(value, digits = 0) {
    if (value === null || value === undefined) return "–";
    return formatter(`n${digits}`, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
  }

  // Working hours: one decimal at most (8 stays "8", 1.25 becomes "1.3").
  function hours(value) {
    if (value === null || value === undefined) return "–";
    return formatter("h", { maximumFractionDigits: 1 }).format(value);
  }

  function share(value) {
    if (value === null || value === undefined) return "–";
    return formatter("pct", { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value);
  }

  function money(value) {
    if (value === null || value === undefined) return "–";
    return formatter("vnd", { style: "currency", currency: "VND" }).format(value);
  }

  function latency(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return seconds < 1 ? `${num(seconds * 1000)} ms` : `${num(seconds, 2)} s`;
  }

  // Parts of a moment as a clock in Vietnam shows it, whatever the browser's own zone is.
  function vnParts(moment, withSeconds) {
    const f = formatter(withSeconds ? "date-s" : "date", {
      timeZone: TZ, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined,
    });
    return Object.fromEntries(f.formatToParts(moment).map((p) => [p.type, p.value]));
  }

  function timeText(iso) {
    if (!iso) return "–";
    const moment = new Date(iso);
    if (Number.isNaN(moment.getTime())) return String(iso);
    const p = vnParts(moment);
    return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
  }

  function time(iso) {
    return iso ? el("time", { datetime: iso }, timeText(iso)) : "–";
  }

  function clock(iso) {
    const moment = iso ? new Date(iso) : new Date();
    const p = vnParts(Number.isNaN(moment.getTime()) ? new Date() : moment, true);
    return `${p.hour}:${p.minute}:${p.second}`;
  }

  // A calendar date (YYYY-MM-DD) has no zone: reorder it, do not convert it.
  function dateText(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
    return m ? `${m[3]}/${m[2]}/${m[1]}` : (value || "–");
  }

  function currentMonth() {
    const p = vnParts(new Date());
    return `${p.year}-${p.month}`;
  }

  // datetime-local has no zone; the operator means Vietnam time.
  function localToIso(value) {
    if (!value) return "";
    return `${value.length === 16 ? `${value}:00` : value}+07:00`;
  }

  function compact(value) {
    if (value === null || value === undefined) return "–";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  /* ---------- messages ---------- */

  function showMessage(text, kind = "error") {
    const box = $("#message");
    $("#message-text").textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
  }

  function clearMessage() {
    $("#message").hidden = true;
    $("#message-text").textContent = "";
  }

  // FastAPI answers {"detail": "..."} or {"detail": [{loc, msg}, ...]}.
  function detailText(detail) {
    if (detail === null || detail === undefined) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => {
        if (!item || typeof item !== "object") return String(item);
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return where ? `${where}: ${item.msg}` : String(item.msg);
      }).join("; ");
    }
    return JSON.stringify(detail);
  }

  function showError(error) {
    if (error && error.status === 401) return; // the sign-in view says it
    showMessage(error && error.message ? error.message : String(error), "error");
  }

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(status, detail) {
      super(detailText(detail) || `HTTP ${status}`);
      this.status = status;
      this.detail = detail;
    }
  }

  async function readBody(response) {
    if (response.status === 204) return null;
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (_) {
      return { detail: text }; // a proxy's HTML or plain-text error still reaches the operator
    }
  }

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: {} };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      if (state.session) options.headers["X-CSRF-Token"] = state.session.csrf_token;
      if (body !== undefined) options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (_) {
      throw new ApiError(0, t("network_error"));
    }
    const data = await readBody(response);
    if (response.ok) return data;
    const detail = data && data.detail !== undefined ? data.detail : response.statusText;
    const error = new ApiError(response.status, detail);
    // A failed sign-in is the sign-in form's business; any other 401 means the session ended
    // (or, on first load, that there was none: nothing to tell then).
    if (response.status === 401 && !(path === SESSION && method === "POST")) signedOut(state.session ? t("session_ended") : "");
    throw error;
  }

  /* ---------- session and language ---------- */

  function applyLanguage() {
    document.documentElement.lang = state.language;
    document.title = t("title");
    for (const node of $$("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of $$("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    for (const button of $$("[data-language]")) {
      button.setAttribute("aria-pressed", String(button.dataset.language === state.language));
    }
    showWhoami();
  }

  function setLanguage(language) {
    if (!window.I18N[language]) return;
    localStorage.setItem(LANGUAGE_KEY, language);
    state.language = language;
    applyLanguage();
    if (state.session) route(true);
  }

  function showWhoami() {
    const who = $("#whoami");
    who.textContent = state.session ? `${state.session.user} · ${label("role", state.session.role)}` : "";
    if (state.session) who.dataset.role = state.session.role;
  }

  function isOperator() {
    return Boolean(state.session && state.session.role === "operator");
  }

  function showSignedIn(signedIn) {
    $("#sign-in-view").hidden = signedIn;
    for (const id of ["#app-nav", "#user-box", "#page"]) $(id).hidden = !signedIn;
    if (signedIn) document.body.dataset.role = state.session.role;
    else delete document.body.dataset.role;
    showWhoami();
  }

  function signedOut(note) {
    stopPolling();
    state.token += 1;
    state.session = null;
    Object.assign(state, FRESH()); // the next user must not see this one's searches (a citizen ID among them)
    clearMessage();
    $("#page").replaceChildren();
    showSignedIn(false);
    const error = $("#sign-in-error");
    error.textContent = note || "";
    error.hidden = !note;
    $("#sign-in-name").focus();
  }

  function startSession(session) {
    state.session = session;
    const chosen = localStorage.getItem(LANGUAGE_KEY);
    state.language = window.I18N[chosen] ? chosen : (window.I18N[session.language] ? session.language : "vi");
    applyLanguage();
    showSignedIn(true);
    route();
  }

  async function signIn(event) {
    event.preventDefault();
    const error = $("#sign-in-error");
    error.hidden = true;
    const button = $("#sign-in-submit");
    button.disabled = true;
    try {
      const session = await api("POST", SESSION, { name: $("#sign-in-name").value, password: $("#sign-in-password").value });
      $("#sign-in-password").value = "";
      startSession(session);
    } catch (failure) {
      // Our own words for the usual refusal; the server's too when it says more (a lockout, say).
      const more = failure.status === 401 && !/^wrong name or password\.?$/i.test(failure.message) ? `\n${failure.message}` : "";
      error.textContent = failure.status === 401 ? t("sign_in_failed") + more : failure.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try {
      await api("DELETE", SESSION);
      signedOut();
    } catch (error) {
      showError(error);
    }
  }

  async function boot() {
    const chosen = localStorage.getItem(LANGUAGE_KEY);
    if (window.I18N[chosen]) state.language = chosen;
    applyLanguage();
    $("#sign-in").addEventListener("submit", signIn);
    $("#sign-out").addEventListener("click", signOut);
    $("#message-close").addEventListener("click", clearMessage);
    for (const button of $$("[data-language]")) button.addEventListener("click", () => setLanguage(button.dataset.language));
    window.addEventListener("hashchange", () => state.session && route());
    try {
      startSession(await api("GET", SESSION));
    } catch (error) {
      if (error.status !== 401) {
        signedOut();
        showMessage(error.message);
      }
    }
  }

  /* ---------- routing ---------- */

  const PAGES = {
    flows: renderFlows, trace: renderTrace, "dead-letters": renderDeadLetters,
    deadlines: renderDeadlines, report: renderReport, settings: renderSettings,
  };

  function parseHash() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [name, query = ""] = hash.split("?");
    return { name: Object.hasOwn(PAGES, name) ? name : "flows", params: new URLSearchParams(query) };
  }

  function stopPolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  // keepMessage: a language switch redraws the page but must not hide what the operator was told.
  function route(keepMessage) {
    stopPolling();
    state.token += 1;
    if (!keepMessage) clearMessage();
    const { name, params } = parseHash();
    for (const a of $$("#app-nav a")) {
      if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const page = $("#page");
    page.replaceChildren();
    page.dataset.page = name;
    PAGES[name](page, params, state.token);
  }

  const live = (token) => token === state.token;

  // GET for a page: undefined when it failed (the banner says why) or the operator has moved on.
  async function load(token, path) {
    try {
      const data = await api("GET", path);
      return live(token) ? data : undefined;
    } catch (error) {
      if (live(token)) showError(error);
      return undefined;
    }
  }

  /* ---------- flows ---------- */

  const FLOW_MEASURES = ["messages", "delivered", "errors", "retries", "dead_letters", "duplicates"];

  function renderFlows(page, params, token) {
    const windows = el("div", { class: "segmented", role: "group", "aria-label": t("window") },
      ["5m", "1h", "1d"].map((name) => el("button", {
        type: "button", dataset: { window: name }, "aria-pressed": String(name === state.flowsWindow),
        onclick: () => chooseWindow(name),
      }, t(`window_${name}`))));
    const headers = ["flow", "direction", ...FLOW_MEASURES, "p50", "p99", "lag", "totals"].map((k) => t(`col_${k}`));
    page.append(
      el("div", { class: "page-head" },
        el("h1", { text: t("nav_flows") }),
        el("p", { id: "flows-updated", class: "muted", "aria-live": "polite" })),
      el("div", { class: "toolbar" }, windows,
        el("p", { class: "open-count" }, `${t("dead_letters_open")}: `,
          link("#/dead-letters", "…", { id: "dead-letters-open" }))),
      table("flows-table", headers, [], t("loading")),
      section("partners", "partners_title", table("partners-table",
        ["partner", "breaker", "last_success", "last_error"].map((k) => t(`col_${k}`)), [], t("loading"))));
    if (state.flows) drawFlows();
    pollFlows(token);
  }

  function chooseWindow(name) {
    state.flowsWindow = name;
    for (const button of $$("[data-window]")) button.setAttribute("aria-pressed", String(button.dataset.window === name));
    drawFlows();
  }

  async function pollFlows(token) {
    try {
      const data = await api("GET", `${API}/console/flows`);
      if (!live(token)) return;
      state.flows = data;
      drawFlows();
      if (state.pollFailed) clearMessage();
      state.pollFailed = false;
    } catch (error) {
      if (!live(token) || error.status === 401) return;
      state.pollFailed = true;
      showError(error);
    }
    if (live(token)) state.pollTimer = setTimeout(() => pollFlows(token), POLL_MS);
  }

  // Consumer groups are named gateway.FLOW or gateway.FLOW.something.
  function flowLag(flow, lags) {
    const group = `gateway.${flow}`;
    const mine = (lags || []).filter((l) => l.group === group || l.group.startsWith(`${group}.`));
    return mine.length ? mine.reduce((sum, l) => sum + l.lag, 0) : null;
  }

  function drawFlows() {
    const data = state.flows;
    const body = $("#flows-table tbody");
    if (!data || !body) return;
    $("#flows-updated").textContent = t("updated_at", { time: clock(data.generated_at) });
    $("#dead-letters-open").textContent = num(data.dead_letters_open);
    body.replaceChildren(...data.flows.map((flow) => flowRow(flow, data.lag)));
    if (!data.flows.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: $$("#flows-table thead th").length, text: t("none") })));
    const partners = $("#partners-table tbody");
    partners.replaceChildren(...data.partners.map(partnerRow));
    if (!data.partners.length) partners.append(el("tr", { class: "empty" }, el("td", { colspan: 4, text: t("none") })));
  }

  function flowRow(flow, lags) {
    const w = (flow.windows && flow.windows[state.flowsWindow]) || {};
    const lag = flowLag(flow.flow, lags);
    const totals = Object.entries(flow.totals || {}).map(([outcome, count]) => `${label("outcome", outcome)} ${num(count)}`);
    return el("tr", { dataset: { flow: flow.flow } },
      el("th", { scope: "row" }, label("flow", flow.flow), el("span", { class: "code", text: flow.flow })),
      cell("direction", el("span", { class: `direction direction-${flow.direction}` },
        flow.direction === "in" ? "← " : "→ ", label("direction", flow.direction))),
      FLOW_MEASURES.map((m) => el("td", { class: `num${m !== "messages" && m !== "delivered" && w[m] ? " warn" : ""}`, dataset: { measure: m } }, num(w[m]))),
      numCell("p50", latency(w.p50_s)),
      numCell("p99", latency(w.p99_s)),
      numCell("lag", lag === null ? "–" : num(lag)),
      el("td", { class: "small", dataset: { measure: "totals" } }, totals.join(" · ") || "–"));
  }

  function partnerRow(p) {
    return el("tr", { dataset: { partner: p.partner, breaker: p.breaker } },
      el("th", { scope: "row" }, label("partner", p.partner), el("span", { class: "code", text: p.partner })),
      cell("breaker", el("span", { class: `badge breaker-${p.breaker}` }, label("breaker", p.breaker))),
      cell("last_success", time(p.last_success_at)),
      cell("last_error", time(p.last_error_at), p.last_error ? el("div", { class: "error-text", text: p.last_error }) : null));
  }

  /* ---------- trace ---------- */

  function renderTrace(page, params, token) {
    for (const kind of ["dossier", "citizen_id"]) {
      if (params.get(kind)) state.trace = { kind, query: params.get(kind) };
    }
    const kind = el("select", { id: "trace-kind" },
      ["dossier", "citizen_id"].map((k) => el("option", { value: k, selected: k === state.trace.kind }, t(`trace_by_${k}`))));
    const query = el("input", { id: "trace-query", type: "search", value: state.trace.query, required: true, autocomplete: "off" });
    const form = el("form", { id: "trace-form", class: "filters", onsubmit: (event) => submitTrace(event, token) },
      field("trace-kind", "trace_kind", kind), field("trace-query", "trace_query", query),
      el("button", { id: "trace-search", type: "submit", class: "primary" }, t("search")));
    page.append(el("h1", { text: t("nav_trace") }), form, el("div", { id: "trace-result" }));
    if (state.trace.query) runTrace(token);
    else query.focus();
  }

  function submitTrace(event, token) {
    event.preventDefault();
    state.trace = { kind: $("#trace-kind").value, query: $("#trace-query").value.trim() };
    if (!state.trace.query) return;
    // A dossier code may sit in the address bar; a citizen ID number must not reach the history.
    const hash = state.trace.kind === "dossier" ? `#/trace?dossier=${encodeURIComponent(state.trace.query)}` : "#/trace";
    history.replaceState(null, "", hash);
    clearMessage();
    runTrace(token);
  }

  async function runTrace(token) {
    const { kind, query } = state.trace;
    const result = $("#trace-result");
    result.replaceChildren(el("p", { class: "muted", text: t("loading") }));
    try {
      const data = await api("GET", `${API}/console/trace?${kind}=${encodeURIComponent(query)}`);
      if (!live(token)) return;
      result.replaceChildren(...traceView(data));
    } catch (error) {
      if (!live(token)) return;
      result.replaceChildren(el("p", { id: "trace-none", class: "muted", text: t("trace_nothing") }));
      // The citizen's ID number is not repeated on screen.
      if (error.status === 404) showMessage(kind === "dossier" ? t("trace_not_found", { query }) : t("trace_not_found_citizen"));
      else showError(error);
    }
  }

  function traceView(data) {
    const parts = [];
    const current = data.dossier ? data.dossier.code : null;
    if ((data.dossiers || []).length > 1) parts.push(matchesList(data.dossiers, current));
    if (!data.dossier) return parts.concat(el("p", { class: "muted", text: t("trace_pick") }));
    parts.push(
      dossierSummary(data.dossier),
      section("trace-timeline-block", "timeline", timeline(data.timeline || [])),
      section("trace-payments-block", "payments", table("trace-payments",
        ["reference", "provider", "amount", "state", "paid_at"].map((k) => t(`col_${k}`)),
        (data.payments || []).map((p) => el("tr", { dataset: { reference: p.reference } },
          cell("reference", p.reference), cell("provider", label("provider", p.provider)),
          numCell("amount", money(p.amount)),
          cell("state", label("payment_state", p.state)), cell("paid_at", time(p.paid_at)))))),
      section("trace-shipments-block", "shipments", table("trace-shipments",
        ["carrier", "kind", "tracking_number", "state", "state_at"].map((k) => t(`col_${k}`)),
        (data.shipments || []).map((s) => el("tr", { dataset: { tracking: s.tracking_number } },
          cell("carrier", s.carrier), cell("kind", label("shipment_kind", s.kind)), cell("tracking_number", s.tracking_number),
          cell("state", label("shipment_state", s.state)), cell("state_at", time(s.state_at)))))),
      section("trace-dead-letters-block", "nav_dead_letters", table("trace-dead-letters",
        ["id", "connector", "error", "state", "created_at"].map((k) => t(`col_${k}`)),
        (data.dead_letters || []).map((d) => el("tr", { dataset: { deadLetter: d.id } },
          cell("id", link(`#/dead-letters?dossier=${encodeURIComponent(current)}`, `#${d.id}`)),
          cell("connector", d.connector), cell("error", d.error_message),
          cell("state", el("span", { class: `badge dl-${d.state}` }, label("dl_state", d.state))), cell("created_at", time(d.created_at)))))),
      section("trace-partners-block", "partner_status", table("trace-partners",
        ["partner", "status", "reference", "updated_at"].map((k) => t(`col_${k}`)),
        (data.partners || []).map((p) => el("tr", { dataset: { partner: p.partner } },
          cell("partner", label("partner", p.partner)), cell("status", statusText(p.status)),
          cell("reference", p.reference || "–"), cell("updated_at", time(p.updated_at)))))),
      auditStatus(data.audit || {}));
    return parts;
  }

  function statusText(status) {
    return has(`status_${status}`) ? `${status} · ${t(`status_${status}`)}` : compact(status);
  }

  function matchesList(dossiers, current) {
    return el("nav", { id: "trace-matches", class: "block", "aria-label": t("trace_matches", { count: dossiers.length }) },
      el("h2", { text: t("trace_matches", { count: dossiers.length }) }),
      el("ul", {}, dossiers.map((d) => el("li", {},
        link(`#/trace?dossier=${encodeURIComponent(d.code)}`, d.code,
          { dataset: { dossier: d.code }, "aria-current": d.code === current ? "true" : null }),
        ` — ${d.procedure_code} · ${d.agency_name || d.agency_code} · ${statusText(d.status)} · ${timeText(d.received_at)}`))));
  }

  function dossierSummary(d) {
    const rows = [
      ["dossier_code", d.code], ["procedure", d.procedure_code],
      ["agency", `${d.agency_name || "–"} (${d.agency_code})`],
      ["status", el("span", { class: "badge status", dataset: { status: d.status } }, statusText(d.status))],
      ["received_at", time(d.received_at)], ["due_at", time(d.due_at)],
      ["channel", label("channel", d.channel)], ["citizen_id", d.citizen || "–"],
    ];
    return el("section", { id: "trace-dossier", class: "block", dataset: { dossier: d.code } },
      el("h2", { text: `${t("dossier")} ${d.code}` }),
      el("dl", { class: "facts" }, rows.map(([key, value]) => [el("dt", { text: t(key) }), el("dd", { dataset: { field: key } }, value)])));
  }

  function timeline(events) {
    if (!events.length) return el("p", { class: "muted", text: t("none") });
    return el("ol", { id: "trace-timeline" }, events.map((e) => el("li", { dataset: { system: e.system, direction: e.direction } },
      time(e.at),
      el("span", { class: "system", text: label("system", e.system) }),
      el("span", { class: `direction direction-${e.direction}`, title: label("direction", e.direction) }, e.direction === "in" ? "←" : "→"),
      el("span", { class: "partner", text: label("partner", e.partner) }),
      el("span", { class: "what", text: e.what }),
      auditBadge(e.audit))));
  }

  function auditBadge(audit) {
    if (!audit) return null;
    const digest = String(audit.digest || "").slice(0, 12);
    return el("span", {
      class: `badge audit ${audit.verified ? "ok" : "bad"}`, dataset: { verified: String(Boolean(audit.verified)), record: audit.record_id },
      title: t("audit_record", { id: audit.record_id, digest }),
    }, audit.verified ? `✓ ${t("verified")}` : `✗ ${t("not_verified")}`);
  }

  function auditStatus(audit) {
    return el("section", { id: "trace-audit", class: `block audit-chain ${audit.intact ? "ok" : "bad"}`, dataset: { intact: String(Boolean(audit.intact)) } },
      el("h2", { text: t("audit_chain") }),
      el("p", {}, audit.intact ? `✓ ${t("audit_intact")}` : `✗ ${t("audit_broken")}: ${audit.problem || "–"}`));
  }

  /* ---------- dead letters ---------- */

  function renderDeadLetters(page, params, token) {
    if (params.get("dossier")) {
      state.dl = { ...state.dl, dossier: params.get("dossier"), state: "all" };
      history.replaceState(null, "", "#/dead-letters"); // so a redraw keeps the operator's own filters
    }
    const f = state.dl;
    const stateSelect = el("select", { id: "dl-state" },
      ["open", "replayed", "discarded", "all"].map((s) => el("option", { value: s, selected: s === f.state }, label("dl_state", s))));
    page.append(
      el("h1", { text: t("nav_dead_letters") }),
      el("form", { id: "dl-filters", class: "filters", onsubmit: (event) => { event.preventDefault(); readFilters(); loadDeadLetters(token); } },
        field("dl-connector", "col_connector", el("input", { id: "dl-connector", type: "text", value: f.connector })),
        field("dl-dossier", "dossier_code", el("input", { id: "dl-dossier", type: "text", value: f.dossier })),
        field("dl-since", "since", el("input", { id: "dl-since", type: "datetime-local", value: f.since })),
        field("dl-until", "until", el("input", { id: "dl-until", type: "datetime-local", value: f.until })),
        field("dl-state", "col_state", stateSelect),
        el("button", { id: "dl-filter", type: "submit", class: "primary" }, t("filter"))),
      actionsBar(token),
      el("p", { id: "dl-count", class: "muted" }),
      el("table", { id: "dl-table" }),
      el("section", { id: "dl-detail", class: "block", hidden: true }),
      section("actions", "recent_actions", table("actions-table",
        ["at", "user", "action", "target", "reason", "result"].map((k) => t(`col_${k}`)), [], t("loading"))));
    loadDeadLetters(token);
    loadActions(token);
  }

  function actionsBar(token) {
    if (!isOperator()) return el("p", { id: "dl-viewer-note", class: "note", text: t("operators_only") });
    return el("div", { id: "dl-actions", class: "actions" },
      field("dl-reason", "reason", el("input", { id: "dl-reason", type: "text", maxlength: 1000, "aria-describedby": "dl-reason-hint" })),
      el("span", { id: "dl-reason-hint", class: "muted small", text: t("reason_hint") }),
      el("button", { id: "dl-replay-selected", type: "button", onclick: () => actOnSelected("replay", token) }, t("replay_selected")),
      el("button", { id: "dl-discard-selected", type: "button", class: "danger", onclick: () => actOnSelected("discard", token) }, t("discard_selected")),
      el("button", { id: "dl-bulk-replay", type: "button", onclick: () => bulkReplay(token) }, t("bulk_replay")));
  }

  function readFilters() {
    state.dl = {
      connector: $("#dl-connector").value.trim(), dossier: $("#dl-dossier").value.trim(),
      since: $("#dl-since").value, until: $("#dl-until").value, state: $("#dl-state").value,
    };
  }

  function filterQuery() {
    const query = new URLSearchParams();
    const f = state.dl;
    if (f.connector) query.set("connector", f.connector);
    if (f.dossier) query.set("dossier", f.dossier);
    if (f.since) query.set("since", localToIso(f.since));
    if (f.until) query.set("until", localToIso(f.until));
    query.set("state", f.state);
    query.set("limit", "200");
    return query;
  }

  async function loadDeadLetters(token) {
    const letters = await load(token, `${API}/dead-letters?${filterQuery()}`);
    if (!letters) return;
    $("#dl-count").textContent = t("dl_count", { count: num(letters.length) });
    $("#dl-table").replaceWith(deadLetterTable(letters, token));
  }

  function deadLetterTable(letters, token) {
    const all = el("input", { id: "dl-select-all", type: "checkbox", "aria-label": t("select_all"),
      onchange: (event) => { for (const box of $$("#dl-table [data-select]")) box.checked = event.target.checked; } });
    const headers = ["id", "created_at", "connector", "dossier_code", "error", "attempts", "replays", "state"];
    const operator = isOperator(); // viewers cannot act, so they get no selection column
    const rows = letters.map((d) => el("tr", {
      class: "clickable", dataset: { deadLetter: d.id, state: d.state },
      onclick: (event) => { if (!event.target.matches("[data-select]")) openDeadLetter(d.id, token); },
    },
      operator && el("td", {}, el("input", { type: "checkbox", dataset: { select: d.id }, value: d.id, "aria-label": t("select_one", { id: d.id }) })),
      cell("id", el("button", { type: "button", class: "linkish", "aria-label": t("open_dead_letter", { id: d.id }) }, `#${d.id}`)),
      cell("created_at", time(d.created_at)), cell("connector", d.connector), cell("dossier_code", d.dossier_code || "–"),
      cell("error", el("span", { class: "code", text: d.error_class }), el("div", { class: "error-text", text: d.error_message })),
      numCell("attempts", num(d.attempts)),
      numCell("replays", num(d.replay_count)),
      cell("state", el("span", { class: `badge dl-${d.state}` }, label("dl_state", d.state)))));
    const result = table("dl-table", [...(operator ? [""] : []), ...headers.map((k) => t(`col_${k}`))], rows, t("dl_none"));
    if (operator) result.querySelector("thead th").replaceChildren(all);
    return result;
  }

  async function openDeadLetter(id, token) {
    const d = await load(token, `${API}/dead-letters/${encodeURIComponent(id)}`);
    if (!d) return;
    for (const row of $$("#dl-table tr[data-dead-letter]")) row.classList.toggle("open", row.dataset.deadLetter === String(id));
    const panel = $("#dl-detail");
    panel.replaceChildren(...deadLetterDetail(d));
    panel.dataset.deadLetter = d.id;
    panel.hidden = false;
    panel.scrollIntoView({ block: "nearest" });
  }

  function deadLetterDetail(d) {
    const facts = [
      ["col_connector", d.connector], ["dossier_code", d.dossier_code || "–"], ["message_id", d.message_id],
      ["source", d.source], ["key", d.key ?? "–"], ["col_attempts", num(d.attempts)], ["error_class", d.error_class],
      ["col_created_at", time(d.created_at)], ["col_replays", num(d.replay_count)], ["last_replayed_at", time(d.last_replayed_at)],
      ["col_state", label("dl_state", d.state)],
    ];
    if (d.discarded_at) facts.push(["discarded_at", time(d.discarded_at)], ["discarded_by", d.discarded_by], ["discard_reason", d.discard_reason]);
    // The API sends headers as an object; accept [name, value] pairs too.
    const headers = Array.isArray(d.headers) ? d.headers : Object.entries(d.headers || {});
    const payload = d.payload !== undefined && d.payload !== null ? d.payload : d.payload_base64;
    return [
      el("div", { class: "detail-head" }, el("h2", { text: `${t("dead_letter")} #${d.id}` }),
        el("button", { id: "dl-detail-close", type: "button", onclick: () => { $("#dl-detail").hidden = true; } }, t("close"))),
      el("p", { id: "dl-error", class: "error-text", text: d.error_message }),
      el("dl", { class: "facts" }, facts.map(([key, value]) => [el("dt", { text: t(key) }), el("dd", {}, value ?? "–")])),
      el("h3", { text: t("headers") }),
      table("dl-headers", [t("header_name"), t("header_value")],
        headers.map(([name, value]) => el("tr", {}, el("td", { class: "code", text: name }), el("td", { text: compact(value) })))),
      el("h3", { text: d.payload === undefined && d.payload_base64 !== undefined ? `${t("payload")} (base64)` : t("payload") }),
      el("pre", { id: "dl-payload", tabindex: 0, text: payload ?? "–" }),
    ];
  }

  function selectedIds() {
    return $$("#dl-table [data-select]:checked").map((box) => Number(box.dataset.select));
  }

  // The reason is kept with the action in the message log, so it may not be empty.
  function requireReason() {
    const input = $("#dl-reason");
    const reason = input.value.trim();
    input.setAttribute("aria-invalid", String(!reason));
    if (!reason) {
      showMessage(t("reason_required"));
      input.focus();
    }
    return reason;
  }

  async function actOnSelected(action, token) {
    const ids = selectedIds();
    if (!ids.length) return showMessage(t("select_first"));
    const reason = requireReason();
    if (!reason) return;
    await runAction(action, { ids, reason }, token);
  }

  async function bulkReplay(token) {
    readFilters();
    const f = state.dl;
    if (!f.connector && !f.dossier && !f.since && !f.until) return showMessage(t("bulk_needs_filter"));
    const reason = requireReason();
    if (!reason) return;
    const what = t("confirm_bulk", {
      connector: f.connector || t("any"), dossier: f.dossier || t("any"),
      since: f.since ? timeText(localToIso(f.since)) : "–", until: f.until ? timeText(localToIso(f.until)) : "–",
    });
    if (!window.confirm(what)) return;
    const body = { reason };
    if (f.connector) body.connector = f.connector;
    if (f.dossier) body.dossier = f.dossier; // without it the replay would reach past what the list shows
    if (f.since) body.since = localToIso(f.since);
    if (f.until) body.until = localToIso(f.until);
    await runAction("replay", body, token);
  }

  async function runAction(action, body, token) {
    const buttons = $$("#dl-actions button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const result = await api("POST", `${API}/dead-letters/${action}`, body);
      const ids = result[action === "replay" ? "replayed" : "discarded"] || [];
      if (!live(token)) return;
      showMessage(t(`${action}_result`, { count: num(ids.length), ids: ids.map((id) => `#${id}`).join(", ") || "–" }), "ok");
      $("#dl-reason").value = "";
      $("#dl-detail").hidden = true;
      loadDeadLetters(token);
      loadActions(token);
    } catch (error) {
      if (live(token)) showError(error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function loadActions(token) {
    const actions = await load(token, `${API}/console/actions?limit=20`);
    if (!actions) return;
    const rows = actions.map((a) => el("tr", { dataset: { action: a.id } },
      cell("at", time(a.at)), cell("user", a.user), cell("action", label("action", a.action)),
      el("td", { class: "code small", dataset: { measure: "target" } }, compact(a.target)),
      cell("reason", a.reason || "–"), el("td", { class: "code small", dataset: { measure: "result" } }, compact(a.result))));
    $("#actions-table").replaceWith(table("actions-table",
      ["at", "user", "action", "target", "reason", "result"].map((k) => t(`col_${k}`)), rows));
  }

  /* ---------- deadlines ---------- */

  async function renderDeadlines(page, params, token) {
    page.append(el("h1", { text: t("nav_deadlines") }), el("p", { class: "muted", text: t("loading") }));
    const data = await load(token, `${API}/console/deadlines`);
    if (!data) return;
    const acceptance = data.acceptance || [];
    const late = data.past_appointment || [];
    const count = (s) => acceptance.filter((a) => a.state === s).length;
    const box = (id, kind, n, key) => el("div", { class: `count ${kind}` }, el("span", { id, class: "big", text: num(n) }), t(key));
    page.replaceChildren(
      el("div", { class: "page-head" }, el("h1", { text: t("nav_deadlines") }),
        el("p", { id: "deadlines-updated", class: "muted", text: t("updated_at", { time: clock(data.generated_at) }) })),
      el("div", { id: "deadline-counts", class: "counts" },
        box("count-overdue", "overdue", count("overdue"), "overdue"), box("count-due-soon", "due_soon", count("due_soon"), "due_soon"),
        box("count-past-appointment", "late", late.length, "past_appointment")),
      section("acceptance", "acceptance_title",
        el("p", { class: "muted", text: t("acceptance_rule", { hours: hours(data.acceptance_hours), soon: hours(data.due_soon_hours) }) }),
        table("acceptance-table", ["dossier_code", "agency", "procedure", "received_at", "accept_by", "hours_left", "state"].map((k) => t(k)),
          acceptance.map(acceptanceRow))),
      section("past-appointment", "past_appointment",
        table("past-appointment-table", ["dossier_code", "agency", "due_at", "status", "hours_late"].map((k) => t(k)), late.map(lateRow))));
  }

  function traceLink(code) {
    return link(`#/trace?dossier=${encodeURIComponent(code)}`, code, { class: "code" });
  }

  function acceptanceRow(a) {
    return el("tr", { class: `state-${a.state}`, dataset: { dossier: a.code, state: a.state } },
      cell("code", traceLink(a.code)), cell("agency", a.agency_name || a.agency_code), cell("procedure", a.procedure_code),
      cell("received_at", time(a.received_at)), cell("accept_by", time(a.accept_by)),
      numCell("hours_left", hours(a.working_hours_left)),
      cell("state", el("span", { class: `badge deadline-${a.state}` }, label("deadline", a.state))));
  }

  function lateRow(d) {
    return el("tr", { class: "state-overdue", dataset: { dossier: d.code } },
      cell("code", traceLink(d.code)), cell("agency", d.agency_name || d.agency_code), cell("due_at", time(d.due_at)),
      cell("status", statusText(d.status)),
      numCell("hours_late", hours(d.working_hours_late)));
  }

  /* ---------- monthly report ---------- */

  const REPORT_COLUMNS = [
    ["received"], ["online"], ["online_share", "online", "received"], ["fee_charging"], ["paid_online"],
    ["paid_online_share", "paid_online", "fee_charging"], ["results_returned"], ["returned_by_post"],
    ["returned_by_post_share", "returned_by_post", "results_returned"], ["synced"], ["synced_share", "synced", "received"],
  ];
  const LEVELS = ["province", "district", "commune", "unknown"];

  function renderReport(page, params, token) {
    state.reportMonth = params.get("month") || state.reportMonth || currentMonth();
    const month = el("input", { id: "report-month", type: "month", value: state.reportMonth, required: true, oninput: updateCsvLink });
    page.append(
      el("h1", { text: t("nav_report") }),
      el("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); showReport(token); } },
        field("report-month", "month", month),
        el("button", { id: "report-show", type: "submit", class: "primary" }, t("show")),
        el("a", { id: "report-csv", class: "button", href: "#", download: "" }, t("download_csv"))),
      el("div", { id: "report-body" }));
    updateCsvLink();
    showReport(token);
  }

  function updateCsvLink() {
    const month = $("#report-month").value;
    $("#report-csv").setAttribute("href", `${API}/console/report.csv?month=${encodeURIComponent(month)}&language=${state.language}`);
  }

  async function showReport(token) {
    const month = $("#report-month").value;
    if (!/^\d{4}-\d{2}$/.test(month)) return showMessage(t("month_required"));
    state.reportMonth = month;
    updateCsvLink();
    const data = await load(token, `${API}/console/report?month=${encodeURIComponent(month)}`);
    if (data) $("#report-body").replaceChildren(reportTable(data));
  }

  function reportTable(data) {
    const rows = [];
    for (const level of LEVELS) {
      const agencies = (data.rows || []).filter((r) => r.level === level);
      const subtotal = (data.levels || []).find((r) => r.level === level);
      if (!agencies.length && !subtotal) continue;
      rows.push(el("tr", { class: "group", dataset: { level } }, el("th", { colspan: REPORT_COLUMNS.length + 1, scope: "colgroup", text: label("level", level) })));
      rows.push(...agencies.map((r) => reportRow(r, r.agency_name || r.agency_code || t("unknown_agency"), "agency")));
      if (subtotal) rows.push(reportRow(subtotal, t("subtotal", { level: label("level", level) }), "subtotal"));
    }
    if (data.total) rows.push(reportRow(data.total, t("total"), "total"));
    return el("table", { id: "report-table", dataset: { month: data.month } },
      el("caption", { text: t("report_caption", { month: data.month }) }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("agency") }),
        REPORT_COLUMNS.map(([key]) => el("th", { scope: "col", class: "num", text: t(`report_${key}`) })))),
      el("tbody", {}, rows));
  }

  function reportRow(r, name, kind) {
    const attrs = { class: kind, dataset: { level: r.level } };
    if (kind === "agency" && r.agency_code) attrs.dataset.agency = r.agency_code;
    if (kind === "total") attrs.dataset.total = "";
    return el("tr", attrs, el("th", { scope: "row" }, name, kind === "agency" && r.agency_code ? el("span", { class: "code", text: r.agency_code }) : null),
      REPORT_COLUMNS.map(([key, part, whole]) => (part
        ? el("td", { class: "num share", dataset: { measure: key }, title: `${num(r[part])} / ${num(r[whole])}` }, share(r[key]))
        : el("td", { class: "num", dataset: { measure: key } }, num(r[key])))));
  }

  /* ---------- settings ---------- */

  function renderSettings(page, params, token) {
    page.append(el("h1", { text: t("nav_settings") }), el("div", { id: "settings-body" }, el("p", { class: "muted", text: t("loading") })));
    loadSettings(token);
  }

  async function loadSettings(token) {
    const body = $("#settings-body");
    try {
      const data = await api("GET", `${API}/console/settings`);
      if (!live(token)) return;
      const calendar = data.calendar || {};
      const days = (id, list) => table(id, [t("date"), t("name")],
        (list || []).map((d) => el("tr", { dataset: { date: d.date } }, cell("date", dateText(d.date)), cell("name", d.name))));
      body.replaceChildren(
        section("users", "users", table("users-table", [t("user"), t("role"), t("disabled")],
          (data.users || []).map((u) => el("tr", { dataset: { user: u.name } }, cell("name", u.name), cell("role", label("role", u.role)),
            cell("disabled", u.disabled ? t("yes") : t("no")))))),
        section("holidays", "holidays", days("holidays-table", calendar.holidays)),
        section("working-days", "working_days", days("working-days-table", calendar.working_days)),
        section("settings", "settings_values", el("pre", { id: "settings-json", tabindex: 0, text: JSON.stringify(data.settings, null, 2) })));
    } catch (error) {
      if (!live(token)) return;
      if (error.status === 403) {
        body.replaceChildren(el("p", { id: "settings-forbidden", class: "note", text: t("settings_operators_only") }));
        showMessage(t("settings_operators_only"));
      } else {
        body.replaceChildren();
        showError(error);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", boot);
})();
