// The configs table: filters, search, pagination, and bulk actions on the selected rows.

import { allowed, confirmed } from "./actions.js";
import { api, canWrite } from "./api.js";
import { scheduleWords, scheduleZone, time } from "./clock.js";
import { announce, badge, debounce, el, keeping, outcome, patch, put } from "./dom.js";

const PAGE_SIZES = [10, 20, 50, 100];
const BULK = [
  ["start", "Start"], ["pause", "Pause"], ["resume", "Resume"], ["stop", "Stop"], ["run", "Run now"],
];
const COLUMNS = ["Name", "Task type", "Schedule", "Status", "Next run", "Last outcome"];

let enumsCache = null;
async function enums() {
  enumsCache = enumsCache || (await api("/system/enums"));
  return enumsCache;
}

function select(label, name, options, value) {
  const id = `filter-${name}`;
  const input = el("select", { id, name },
    el("option", { value: "" }, "any"), options.map((o) => el("option", { value: o }, o)));
  input.value = value || "";
  return [el("label", { for: id }, label), input];
}

export async function renderConfigs(root, query) {
  const state = {
    status: query.get("status") || "",
    task_type: query.get("task_type") || "",
    scheduler_type: query.get("scheduler_type") || "",
    q: query.get("q") || "",
    limit: Number(query.get("limit")) || 20,
    offset: Number(query.get("offset")) || 0,
  };
  const selected = new Map(); // id -> the config as last listed (its status and kind)
  const known = await enums();
  const writable = canWrite();

  const tbody = el("tbody");
  const range = el("span", { class: "range", role: "status" });
  const prev = el("button", { type: "button", class: "secondary", onclick: () => go(state.offset - state.limit) }, "Previous");
  const next = el("button", { type: "button", class: "secondary", onclick: () => go(state.offset + state.limit) }, "Next");
  const results = el("div", { class: "bulk-results", id: "bulk-results", "aria-live": "polite" });
  const selectAll = writable ? el("input", { type: "checkbox", "aria-label": "select every config on this page", onchange: () => {
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) {
      box.checked = selectAll.checked;
      toggle(listed.get(Number(box.value)), box.checked);
    }
  } }) : null;
  const count = el("span", { class: "muted", id: "selected-count" }, "none selected");
  const note = el("input", { id: "bulk-note", type: "text", maxlength: "2000", placeholder: "why (kept with the status)", autocomplete: "off" });

  const listed = new Map(); // id -> config, of the page shown
  const bulkButtons = new Map();

  function toggle(config, on) {
    if (on) selected.set(config.id, config);
    else selected.delete(config.id);
    count.textContent = selected.size ? `${selected.size} selected` : "none selected";
    showBulk();
  }

  // each bulk button says how many of the selection it applies to, and is off for none
  function showBulk() {
    for (const [action, button] of bulkButtons) {
      const n = [...selected.values()].filter((c) => allowed(c).has(action)).length;
      button.disabled = n === 0;
      button.textContent = n ? `${button.dataset.label} (${n})` : button.dataset.label;
    }
  }

  function updateHash() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) {
      if (v && !(k === "limit" && v === 20) && !(k === "offset" && v === 0)) params.set(k, String(v));
    }
    const text = params.toString();
    history.replaceState(null, "", `#/configs${text ? `?${text}` : ""}`);
  }

  async function load() {
    const params = new URLSearchParams({ limit: String(state.limit), offset: String(state.offset) });
    for (const k of ["status", "task_type", "scheduler_type", "q"]) if (state[k]) params.set(k, state[k]);
    const page = await api(`/configs?${params}`);
    if (page.items.length === 0 && page.total > 0 && state.offset > 0) {
      state.offset = Math.max(0, Math.floor((page.total - 1) / state.limit) * state.limit);
      return load();
    }
    listed.clear();
    for (const c of page.items) {
      listed.set(c.id, c);
      if (selected.has(c.id)) selected.set(c.id, c);
    }
    const row = (c) => {
      const box = writable ? el("input", { type: "checkbox", value: String(c.id), "aria-label": `select ${c.name}`,
        dataset: { keep: `pick-${c.id}` }, onchange: (event) => toggle(listed.get(c.id), event.target.checked) }) : null;
      if (box) box.checked = selected.has(c.id);
      const cells = [
        el("a", { href: `#/configs/${c.id}` }, c.name), c.task_type, scheduleWords(c),
        badge(c.schedule_status), time(c.next_run_at, scheduleZone(c)),
        [outcome(c.last_success), c.last_run_at ? [" ", time(c.last_run_at)] : null],
      ];
      return el("tr", { dataset: { id: c.id } },
        writable ? el("td", { class: "pick" }, box) : null,
        cells.map((cell, i) => el("td", { dataset: { label: COLUMNS[i] }, class: i === 3 ? "status" : i === 0 ? "name" : undefined }, cell)));
    };
    // rows stay in place while nothing they show changed (the minute of "in 6 min" included)
    const stamp = Math.floor(Date.now() / 60000);
    patch(tbody, page.items.length
      ? page.items.map((c) => [c.id, JSON.stringify([c, selected.has(c.id), stamp]), () => row(c)])
      : [["none", "none", () => el("tr", {}, el("td", { colspan: writable ? "7" : "6", class: "muted" }, "No configs match."))]]);
    showBulk();
    const first = page.total ? state.offset + 1 : 0;
    range.textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
    prev.disabled = state.offset <= 0;
    next.disabled = state.offset + page.items.length >= page.total;
    if (selectAll) selectAll.checked = false;
  }

  function go(offset) {
    state.offset = Math.max(0, offset);
    updateHash();
    load();
  }

  function filter(name) {
    return (event) => {
      state[name] = event.target.value;
      state.offset = 0;
      updateHash();
      load();
    };
  }

  async function bulk(action, label) {
    const chosen = [...selected.values()].filter((c) => allowed(c).has(action));
    const ids = chosen.map((c) => c.id);
    if (!ids.length) {
      announce("Select one or more configs first.", true);
      return;
    }
    if (!confirmed(action, ids.length === 1 ? chosen[0].name : `${ids.length} configs`)) return;
    const names = new Map(chosen.map((c) => [c.id, c.name]));
    const noteText = note.value.trim();
    let rows;
    try {
      if (action === "run") {
        const out = await api("/runs", { method: "POST", body: { config_ids: ids } });
        rows = [
          ...out.dispatched.map((d) => ({ id: d.config_id, ok: true, text: `dispatched (task ${d.task_id})` })),
          ...out.errors.map((d) => ({ id: d.config_id, ok: false, text: d.detail })),
        ];
      } else {
        const body = { config_ids: ids };
        if (noteText) body.note = noteText;
        const out = await api(`/schedules/bulk/${action}`, { method: "POST", body });
        rows = [
          ...out.results.map((r) => ({ id: r.config_id, ok: r.success, text: `${r.status}: ${r.message}` })),
          ...out.errors.map((r) => ({ id: r.config_id, ok: false, text: `${r.status_code}: ${r.detail}` })),
        ];
      }
    } catch (error) {
      announce(`${label} failed: ${error.message}`, true);
      return;
    }
    const failed = rows.filter((r) => !r.ok).length;
    put(results,
      el("h2", {}, `${label}: ${rows.length - failed} done, ${failed} refused`),
      el("ul", { class: "list" }, rows.map((r) => el("li", { class: r.ok ? "ok" : "failed", dataset: { id: r.id } },
        el("a", { href: `#/configs/${r.id}` }, names.get(r.id) || `config ${r.id}`), ` — ${r.ok ? "ok" : "refused"}: ${r.text}`))),
    );
    announce(`${label}: ${rows.length - failed} done, ${failed} refused`, failed > 0);
    await load();
  }

  const search = el("input", { id: "filter-q", type: "search", value: state.q, placeholder: "name or description", autocomplete: "off",
    oninput: debounce((event) => { state.q = event.target.value.trim(); state.offset = 0; updateHash(); load(); }, 250) });
  const pageSize = el("select", { id: "page-size", onchange: (event) => { state.limit = Number(event.target.value); state.offset = 0; updateHash(); load(); } },
    PAGE_SIZES.map((n) => el("option", { value: String(n) }, String(n))));
  pageSize.value = String(state.limit);

  const filters = el("form", { class: "filters", role: "search", onsubmit: (event) => event.preventDefault() },
    el("div", { class: "filter" }, el("label", { for: "filter-q" }, "Search"), search),
    el("div", { class: "filter" }, select("Status", "status", known.schedule_statuses, state.status)),
    el("div", { class: "filter" }, select("Task type", "task_type", known.task_types, state.task_type)),
    el("div", { class: "filter" }, select("Scheduler", "scheduler_type", known.scheduler_types, state.scheduler_type)),
    el("div", { class: "filter" }, el("label", { for: "page-size" }, "Per page"), pageSize));
  for (const name of ["status", "task_type", "scheduler_type"]) {
    filters.querySelector(`#filter-${name}`).addEventListener("change", filter(name));
  }

  put(root,
    el("div", { class: "title-row" }, el("h1", {}, "Configs"),
      writable ? el("a", { href: "#/configs/new", class: "button write" }, "New config") : null),
    filters,
    writable ? el("div", { class: "bulk card", role: "group", "aria-label": "bulk actions on the selected configs" },
      count,
      el("label", { for: "bulk-note" }, "Note"), note,
      BULK.map(([action, label]) => {
        const button = el("button", { type: "button", class: action === "stop" ? "write danger" : "write",
          dataset: { bulk: action, label }, disabled: true, onclick: () => bulk(action, label) }, label);
        bulkButtons.set(action, button);
        return button;
      })) : null,
    results,
    el("div", { class: "table-wrap" }, el("table", { id: "configs-table" },
      el("thead", {}, el("tr", {},
        writable ? el("th", { class: "pick" }, selectAll) : null,
        COLUMNS.map((h) => el("th", { scope: "col" }, h)))),
      tbody)),
    el("div", { class: "pager" }, prev, range, next),
  );
  await load();
  return { onEvents: () => keeping(root, load) };
}
