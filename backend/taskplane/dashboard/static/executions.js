// Executions across every config: filtered by config, outcome, trigger and time range, paged,
// newest first. The overview's failures link here.

import { api } from "./api.js";
import { time } from "./clock.js";
import { el, keeping, outcome, patch, put, seconds } from "./dom.js";
import { namesOf } from "./names.js";

const PAGE = 50;
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

  async function load() {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    for (const k of ["config_id", "is_success", "trigger", "since", "until"]) if (state[k]) params.set(k, state[k]);
    const page = await api(`/executions?${params}`);
    const name = await namesOf(page.items.map((x) => x.config_id));
    const stamp = Math.floor(Date.now() / 60000);
    patch(tbody, page.items.length
      ? page.items.map((x) => [x.id, String(stamp), () => el("tr", { class: "exec", dataset: { id: x.id } },
        el("td", { dataset: { label: "Execution" } }, `#${x.id}`),
        el("td", { dataset: { label: "Config" } }, el("a", { href: `#/configs/${x.config_id}` }, name(x.config_id))),
        el("td", { dataset: { label: "Outcome" } }, outcome(x.is_success)),
        el("td", { dataset: { label: "Trigger" } }, x.trigger),
        el("td", { dataset: { label: "Started" } }, time(x.started_at)),
        el("td", { dataset: { label: "Duration" } }, seconds(x.duration_seconds)),
        el("td", { class: "muted clip", dataset: { label: "Error" } }, x.error_message || ""))])
      : [["none", "none", () => el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No executions match."))]]);
    const first = page.total ? state.offset + 1 : 0;
    range.textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
    prev.disabled = state.offset <= 0;
    next.disabled = state.offset + page.items.length >= page.total;
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
  return { onEvents: () => keeping(root, load) };
}
