// taskplane dashboard: sign-in, navigation (hash routes, so relative URLs keep working under
// any sub-path), the live event stream, and the views. Calls only the public API.

import { ApiError, canWrite, detectRole, session } from "./api.js";
import { MODES, clock, modeLabel } from "./clock.js";
import { $, clear, el, keepToastOf, put } from "./dom.js";
import { listen } from "./events.js";
import { renderOverview } from "./overview.js";
import { renderConfigs } from "./configs.js";
import { renderConfig } from "./config_page.js";
import { renderConfigForm } from "./config_form.js";
import { renderExecutions } from "./executions.js";
import { renderAudit } from "./audit.js";

const ROUTES = [
  [/^\/?$/, (root, m, q) => renderOverview(root)],
  [/^\/configs$/, (root, m, q) => renderConfigs(root, q)],
  [/^\/configs\/new$/, (root, m, q) => renderConfigForm(root, null, q)],
  [/^\/executions$/, (root, m, q) => renderExecutions(root, q)],
  [/^\/audit$/, (root, m, q) => renderAudit(root, q)],
  [/^\/configs\/(\d+)\/edit$/, (root, m) => renderConfigForm(root, Number(m[1]))],
  [/^\/configs\/(\d+)$/, (root, m, q) => renderConfig(root, Number(m[1]), q)],
];

let current = null; // the mounted view: {onEvent?, dispose?}
let stopEvents = null;
let renderToken = 0;

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  return { path, query: new URLSearchParams(query) };
}

async function route() {
  viewNeedsApi = false;
  if (!session.token || !session.role) return;
  const { path, query } = parseHash();
  const view = $("#view");
  const mine = ++renderToken;
  if (current && current.dispose) current.dispose();
  current = null;
  markNav(path);
  keepToastOf(path);
  for (const [pattern, render] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    if (path.endsWith("/edit") || path.endsWith("/new")) {
      if (!canWrite()) return notFound(view, "Viewers cannot edit configs.");
    }
    if (path === "/audit" && !canWrite()) return notFound(view, "The audit trail is for admins.");
    put(view, el("p", { class: "muted", role: "status" }, "loading…"));
    // each view renders into its own host, swapped in only if no newer route started meanwhile
    const host = el("div", { class: "view-host" });
    try {
      const mounted = await render(host, match, query);
      if (mine === renderToken) {
        current = mounted || null;
        view.replaceChildren(host);
        const focus = host.querySelector("[data-autofocus]");
        if (focus) focus.focus();
      } else if (mounted && mounted.dispose) mounted.dispose();
    } catch (error) {
      if (mine !== renderToken) return;
      if (error instanceof ApiError && error.status === 401) return;
      // the api went away while this view loaded: render it again once the live stream is back
      viewNeedsApi = error instanceof ApiError && error.status === 0;
      put(view, el("div", { class: "card error-box", role: "alert" },
        el("h1", {}, error.status === 404 ? "Not found" : "Something went wrong"), el("p", {}, error.message)));
    }
    const heading = view.querySelector("h1");
    if (heading) document.title = `${heading.textContent} · taskplane`;
    return;
  }
  notFound(view, "No such page.");
}

function notFound(view, text) {
  put(view, el("div", { class: "card" }, el("h1", {}, "Not found"), el("p", {}, text),
    el("a", { href: "#/" }, "back to the overview")));
}

function markNav(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const target = link.getAttribute("href").slice(1);
    const active = target === "/" ? path === "/" || path === "" : path === target;
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function buildShell() {
  const nav = $("#nav");
  put(nav,
    el("a", { href: "#/" }, "Overview"),
    el("a", { href: "#/configs" }, "Configs"),
    el("a", { href: "#/executions" }, "Executions"),
    canWrite() ? el("a", { href: "#/audit" }, "Audit") : null,
    canWrite() ? el("a", { href: "#/configs/new", class: "write" }, "New config") : null,
  );
  $("#role").textContent = session.role === "admin" ? "admin" : "viewer · read-only";
  $("#role").className = `role role-${session.role}`;
  const zone = $("#zone");
  put(zone, MODES.map((mode) => el("option", { value: mode }, modeLabel(mode))));
  zone.value = clock.mode;
  for (const id of ["#nav", "#sign-out", "#role", "#live", "#zone-picker"]) $(id).hidden = false;
  $("#sign-in").hidden = true;
  $("#view").hidden = false;
}

let viewNeedsApi = false;

function setLive(connected) {
  if (connected && viewNeedsApi) {
    viewNeedsApi = false;
    route();
  }
  const live = $("#live");
  live.textContent = connected ? "live" : "disconnected";
  live.className = connected ? "live on" : "live off";
  $("#banner").hidden = connected;
}

let liveTimer = null;
const pending = [];
function onEvent(type, payload) {
  // group bursts: a view refreshes at most once per 250 ms
  pending.push([type, payload]);
  if (liveTimer) return;
  liveTimer = setTimeout(() => {
    liveTimer = null;
    const batch = pending.splice(0);
    if (!current || !current.onEvents) return;
    // a background refresh that the api refuses (the config was just deleted, the api went
    // away) changes nothing on the page: the next event, or the banner, says the rest
    Promise.resolve(current.onEvents(batch)).catch((error) => {
      if (!(error instanceof ApiError)) throw error;
    });
  }, 250);
}

function startLive() {
  if (stopEvents) stopEvents();
  setLive(false);
  $("#banner").hidden = true; // not "disconnected" before the first attempt
  stopEvents = listen({ onEvent, onState: setLive });
}

function showSignIn(message = "") {
  if (stopEvents) stopEvents();
  stopEvents = null;
  if (current && current.dispose) current.dispose();
  current = null;
  session.role = null;
  for (const id of ["#nav", "#sign-out", "#role", "#live", "#banner", "#zone-picker"]) $(id).hidden = true;
  clear($("#view")).hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message;
  $("#token").value = "";
  $("#token").focus();
  document.title = "Sign in · taskplane";
}

async function signIn(token) {
  session.token = token;
  try {
    session.role = await detectRole();
  } catch (error) {
    session.token = "";
    showSignIn(error instanceof ApiError && error.status === 401
      ? "That token is not valid (unknown or revoked)." : error.message);
    return false;
  }
  buildShell();
  startLive();
  await route();
  return true;
}

function signOut() {
  session.token = "";
  showSignIn("Signed out.");
  history.replaceState(null, "", "#/");
}

session.onUnauthorized = () => {
  session.token = "";
  showSignIn("Your token was refused: sign in again.");
};

$("#sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (!token) {
    $("#sign-in-error").textContent = "Paste an API token.";
    return;
  }
  if (await signIn(token)) $("#main").focus();
});
$("#sign-out").addEventListener("click", signOut);
$("#zone").addEventListener("change", (event) => {
  clock.mode = event.target.value;
  route();
});
window.addEventListener("hashchange", () => {
  route().then(() => $("#main").focus({ preventScroll: true }));
});

if (session.token) signIn(session.token);
else showSignIn();
