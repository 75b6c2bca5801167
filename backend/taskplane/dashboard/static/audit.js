// The audit trail (admins only): every change made through the API or the CLI, newest first,
// filtered by config and actor, read in keyset pages ("More" asks for entries older than the
// last one shown). A deleted config's entries keep its name.

import { api } from "./api.js";
import { time } from "./clock.js";
import { debounce, el, put } from "./dom.js";
import { changeList, eventDetails } from "./timeline.js";

const PAGE = 50;

function labelled(id, label, input) {
  input.id = id;
  return el("div", { class: "filter" }, el("label", { for: id }, label), input);
}

function row(x) {
  const config = x.config_id === null || x.config_id === undefined
    ? el("span", { class: "muted" }, "—")
    : el("a", { href: `#/configs/${x.config_id}` }, x.config_name || `config ${x.config_id}`);
  const details = eventDetails(x.details);
  return el("tr", { class: "audit-entry", dataset: { id: String(x.id), action: x.action } },
    el("td", { dataset: { label: "When" } }, time(x.at)),
    el("td", { dataset: { label: "Actor" } }, x.actor || "—"),
    el("td", { dataset: { label: "Action" } }, el("span", { class: "event-name" }, x.action || "—")),
    el("td", { dataset: { label: "Config" } }, config),
    el("td", { dataset: { label: "Note" } }, x.note ? el("q", {}, x.note) : ""),
    el("td", { class: "muted", dataset: { label: "Details" } }, details, changeList(x.details)));
}

export async function renderAudit(root, query) {
  const state = { config_id: query.get("config_id") || "", actor: query.get("actor") || "" };
  const configs = await api("/configs?limit=500");
  const tbody = el("tbody");
  const range = el("span", { class: "range", role: "status" });
  const more = el("button", { type: "button", class: "secondary", id: "audit-more", onclick: () => load(true) }, "More");
  const config = el("select", {}, el("option", { value: "" }, "any"),
    configs.items.map((c) => el("option", { value: String(c.id) }, c.name)));
  if (state.config_id && !configs.items.some((c) => String(c.id) === state.config_id)) {
    config.append(el("option", { value: state.config_id }, `config ${state.config_id}`)); // a deleted one
  }
  config.value = state.config_id;
  const actor = el("input", { type: "search", placeholder: "a token's name, cli, scheduler…", autocomplete: "off", spellcheck: "false" });
  actor.value = state.actor;
  let last = null; // the id of the oldest entry shown: the next page starts after it
  let shown = 0;
  let seq = 0;
  let extended = false; // "More" was asked for: a live change no longer reloads the first page

  async function load(append = false) {
    const mine = ++seq;
    extended = append;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (state.config_id) params.set("config_id", state.config_id);
    if (state.actor) params.set("actor", state.actor);
    if (append && last !== null) params.set("after", String(last));
    more.disabled = true;
    const page = await api(`/audit?${params}`);
    if (mine !== seq) return;
    const rows = page.items.map(row);
    if (append) tbody.append(...rows);
    else put(tbody, rows.length ? rows : el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No entries match.")));
    shown = (append ? shown : 0) + page.items.length;
    if (page.items.length) last = page.items[page.items.length - 1].id;
    const total = typeof page.total === "number" ? ` of ${page.total}` : "";
    range.textContent = `${shown}${total} shown`;
    more.disabled = page.items.length < PAGE || (typeof page.total === "number" && shown >= page.total);
  }

  function go() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v) params.set(k, v);
    history.replaceState(null, "", `#/audit${params.toString() ? `?${params}` : ""}`);
    last = null;
    return load(false);
  }

  config.addEventListener("change", () => { state.config_id = config.value; go(); });
  actor.addEventListener("input", debounce(() => { state.actor = actor.value.trim(); go(); }, 250));

  put(root,
    el("h1", {}, "Audit"),
    el("p", { class: "muted" }, "Every change made through the API or the CLI, newest first."),
    el("form", { class: "filters", role: "search", onsubmit: (event) => event.preventDefault() },
      labelled("audit-config", "Config", config), labelled("audit-actor", "Actor", actor)),
    el("div", { class: "table-wrap" }, el("table", { id: "audit-table" },
      el("thead", {}, el("tr", {}, ["When", "Actor", "Action", "Config", "Note", "Details"].map((h) => el("th", { scope: "col" }, h)))),
      tbody)),
    el("div", { class: "pager" }, range, more));
  await load(false);
  // a live change refreshes the first page only while no older page was asked for (nor is
  // being read)
  return { onEvents: () => (extended ? null : load(false)) };
}
