// Executions across every config: filtered by config, outcome, trigger and time range, paged,
// newest first. The overview's failures link here. Above the first page, the attempts running
// now (GET /executions/running: not recorded until they finish), with how long they have run.

import { api } from "./api.js";
import { time } from "./clock.js";
import { el, keeping, outcome, patch, put, seconds } from "./dom.js";
import { namesOf } from "./names.js";

const PAGE = 50;
const RUNNING_POLL_MS = 5000; // no live event tells of a start: look again while the page is open
const TRIGGERS = ["scheduled", "manual", "batch", "immediate", "backfill"];

// a datetime-local value (this browser's zone) as an ISO instant, and back
const toIso = (local) => (local ? new Date(local).toISOString() : "");
function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function labelled(id, label, input) {
  input.id = id;
  return el("div", { class: "filter" }, el("label", { for: id }, label), input);
}

export async function renderExecutions(root, query) {
  const state = {
    config_id: query.get("config_id") || "", is_success: query.get("is_success") || "", trigger: query.get("trigger") || "",
    since: query.get("since") || "", until: query.get("until") || "", offset: Number(query.get("offset")) || 0,
  };
  const configs = await api("/configs?limit=500");
  const tbody = el("tbody");
  const range = el("span", { class: "range", role: "status" });
  const prev = el("button", { type: "button", class: "secondary", onclick: () => go(state.offset - PAGE) }, "Newer");
  const next = el("button", { type: "button", class: "secondary", onclick: () => go(state.offset + PAGE) }, "Older");

  const config = el("select", {}, el("option", { value: "" }, "any"),
    configs.items.map((c) => el("option", { value: String(c.id) }, c.name)));
  const result = el("select", {}, el("option", { value: "" }, "any"), el("option", { value: "true" }, "ok"), el("option", { value: "false" }, "failed"));
  const trigger = el("select", {}, el("option", { value: "" }, "any"), TRIGGERS.map((t) => el("option", { value: t }, t)));
  const since = el("input", { type: "datetime-local" });
  const until = el("input", { type: "datetime-local" });
  config.value = state.config_id;
  result.value = state.is_success;
  trigger.value = state.trigger;
  since.value = toLocal(state.since);
  until.value = toLocal(state.until);
  for (const [key, input, read] of [["config_id", config], ["is_success", result], ["trigger", trigger], ["since", since, toIso], ["until", until, toIso]]) {
    input.addEventListener("change", () => {
      state[key] = read ? read(input.value) : input.value;
      go(0);
    });
  }

  function go(offset) {
    state.offset = Math.max(0, offset);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v) params.set(k, String(v));
    history.replaceState(null, "", `#/executions${params.toString() ? `?${params}` : ""}`);
    load();
  }

  let runRows = [];
  let doneRows = [];
  function draw() {
    const rows = [...runRows, ...doneRows];
    patch(tbody, rows.length ? rows
      : [["none", "none", () => el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No executions match."))]]);
  }

  // the running attempts the filters let through: none on later pages or when only ok or
  // failed ones are asked for (a running attempt has no outcome yet)
  async function loadRunning() {
    if (state.offset > 0 || state.is_success) {
      runRows = [];
      return;
    }
    const params = new URLSearchParams({ limit: "100" });
    if (state.config_id) params.set("config_id", state.config_id);
    const found = (await api(`/executions/running?${params}`)).items.filter((x) =>
      (!state.trigger || x.trigger === state.trigger)
      && (!state.since || (x.started_at && new Date(x.started_at) >= new Date(state.since)))
      && (!state.until || (x.started_at && new Date(x.started_at) < new Date(state.until))));
    const name = await namesOf(found.map((x) => x.config_id));
    const stamp = Math.floor(Date.now() / 60000);
    runRows = found.map((x) => [`run-${x.task_id}-${x.attempt}`, String(stamp), () => el("tr", { class: "exec running", dataset: { task: x.task_id } },
      el("td", { dataset: { label: "Execution" } }, el("span", { class: "muted", title: x.task_id }, `attempt ${x.attempt ?? "?"}`)),
      el("td", { dataset: { label: "Config" } }, el("a", { href: `#/configs/${x.config_id}` }, name(x.config_id))),
      el("td", { dataset: { label: "Outcome" } }, el("span", { class: "running" }, "running")),
      el("td", { dataset: { label: "Trigger" } }, x.trigger || "—"),
      el("td", { dataset: { label: "Started" } }, time(x.started_at)),
      el("td", { dataset: { label: "Duration" } }, elapsed(x.started_at)),
      el("td", { class: "muted clip", dataset: { label: "Error" } }, x.worker ? `on ${x.worker}` : ""))]);
  }

  async function loadFinished() {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    for (const k of ["config_id", "is_success", "trigger", "since", "until"]) if (state[k]) params.set(k, state[k]);
    const page = await api(`/executions?${params}`);
    const name = await namesOf(page.items.map((x) => x.config_id));
    const stamp = Math.floor(Date.now() / 60000);
    doneRows = page.items.map((x) => [x.id, String(stamp), () => el("tr", { class: "exec", dataset: { id: x.id } },
        el("td", { dataset: { label: "Execution" } }, `#${x.id}`),
        el("td", { dataset: { label: "Config" } }, el("a", { href: `#/configs/${x.config_id}` }, name(x.config_id))),
        el("td", { dataset: { label: "Outcome" } }, outcome(x.is_success)),
        el("td", { dataset: { label: "Trigger" } }, x.trigger),
        el("td", { dataset: { label: "Started" } }, time(x.started_at)),
        el("td", { dataset: { label: "Duration" } }, seconds(x.duration_seconds)),
        el("td", { class: "muted clip", dataset: { label: "Error" } }, x.error_message || ""))]);
    const first = page.total ? state.offset + 1 : 0;
    range.textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
    prev.disabled = state.offset <= 0;
    next.disabled = state.offset + page.items.length >= page.total;
  }

  async function load() {
    await Promise.all([loadRunning(), loadFinished()]);
    draw();
  }

  put(root,
    el("h1", {}, "Executions"),
    el("form", { class: "filters", role: "search", onsubmit: (event) => event.preventDefault() },
      labelled("x-config", "Config", config), labelled("x-outcome", "Outcome", result), labelled("x-trigger", "Trigger", trigger),
      labelled("x-since", "From", since), labelled("x-until", "Until", until)),
    el("div", { class: "table-wrap" }, el("table", { id: "all-executions" },
      el("thead", {}, el("tr", {}, ["Execution", "Config", "Outcome", "Trigger", "Started", "Duration", "Error"].map((h) => el("th", { scope: "col" }, h)))),
      tbody)),
    el("div", { class: "pager" }, prev, range, next));
  await load();
  // the elapsed time ticks every second; the running list is looked at again every few
  const tick = setInterval(() => {
    for (const node of tbody.querySelectorAll(".elapsed")) node.textContent = runningFor(node.dataset.since);
  }, 1000);
  let busy = false;
  const poll = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await keeping(root, async () => { await loadRunning(); draw(); });
    } catch {
      // a refused background look stays quiet, as every refresh does
    } finally {
      busy = false;
    }
  }, RUNNING_POLL_MS);
  return {
    onEvents: () => keeping(root, load),
    dispose: () => { clearInterval(tick); clearInterval(poll); },
  };
}

// how long an attempt has run ("running 1 min 05 s"), updated in place by the page's tick
function runningFor(iso) {
  if (!iso) return "running";
  const s = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
  const two = (n) => String(n).padStart(2, "0");
  if (s < 60) return `running ${s} s`;
  if (s < 3600) return `running ${Math.floor(s / 60)} min ${two(s % 60)} s`;
  return `running ${Math.floor(s / 3600)} h ${two(Math.floor(s / 60) % 60)} min`;
}
const elapsed = (iso) => el("span", { class: "elapsed", dataset: { since: iso || "" } }, runningFor(iso));
