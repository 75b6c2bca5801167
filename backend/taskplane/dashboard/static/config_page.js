// A config's page: why it did (not) run, its controls, the timeline of its history with the
// fires to come, its executions (filtered, paged, expandable) and a chart of them.

import { api, canWrite } from "./api.js";
import { durations } from "./chart.js";
import { ago, announce, badge, clear, el, json, outcome, percent, seconds, time } from "./dom.js";

const ACTIONS = [
  ["start", "Start"], ["pause", "Pause"], ["resume", "Resume"], ["stop", "Stop"], ["reload", "Reload"],
];
const EXEC_PAGE = 20;

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

export async function renderConfig(root, id, query) {
  const writable = canWrite();
  const filter = { is_success: query.get("is_success") || "", trigger: query.get("trigger") || "", offset: 0 };
  const parts = {
    head: el("div"), verdict: el("section", { class: "verdict card", id: "verdict", "aria-labelledby": "h-verdict" }),
    controls: el("div"), timeline: el("section", { id: "timeline", "aria-labelledby": "h-timeline" }),
    chart: el("section", { id: "chart", "aria-labelledby": "h-chart" }), executions: el("section", { id: "executions", "aria-labelledby": "h-executions" }),
  };
  const note = el("input", { id: "action-note", type: "text", maxlength: "2000", placeholder: "why (kept with the status)", autocomplete: "off" });
  const expanded = new Set();
  const execBody = el("tbody");
  const execRange = el("span", { class: "range", role: "status" });
  const prev = el("button", { type: "button", class: "secondary", onclick: () => { filter.offset = Math.max(0, filter.offset - EXEC_PAGE); loadExecutions(); } }, "Newer");
  const next = el("button", { type: "button", class: "secondary", onclick: () => { filter.offset += EXEC_PAGE; loadExecutions(); } }, "Older");

  async function loadHead() {
    const [config, explain, history] = await Promise.all([
      api(`/configs/${id}?include_stats=true`),
      api(`/schedules/${id}/explain`),
      api(`/schedules/${id}/history?limit=50`),
    ]);
    const stats = config.stats || {};
    clear(parts.head).append(
      el("div", { class: "title-row" },
        el("h1", {}, config.name), badge(config.schedule_status),
        writable ? el("a", { href: `#/configs/${id}/edit`, class: "button secondary write" }, "Edit") : null),
      config.description ? el("p", {}, config.description) : null,
      kv([
        ["task type", config.task_type],
        ["schedule", config.schedule || config.scheduler_type],
        ["next run", config.next_run_at ? [time(config.next_run_at), ` (${ago(config.next_run_at)})`] : "—"],
        ["runs", stats.total != null ? `${stats.total} (${stats.failed} failed, success ${percent(stats.success_rate)})` : "—"],
        ["duration", stats.total ? `avg ${seconds(stats.avg_duration_seconds)}, p95 ${seconds(stats.p95_duration_seconds)}` : "—"],
        ["retries / timeout / priority", `${config.max_retries} / ${config.timeout_seconds ?? "default"} / ${config.priority}`],
      ]),
      el("details", {}, el("summary", {}, "parameters and schedule"), json({ schedule_config: config.schedule_config, parameters: config.parameters })),
    );
    clear(parts.verdict).append(
      el("h2", { id: "h-verdict" }, "Why did it (not) run?"),
      el("p", { class: "verdict-text", id: "verdict-text" }, explain.verdict),
      explain.note ? el("p", { class: "note" }, "Note: ", el("q", { id: "status-note" }, explain.note), explain.status_at ? [" — ", time(explain.status_at)] : null) : null,
      explain.decisions.length ? el("details", {}, el("summary", {}, "latest scheduler decisions"),
        el("ul", { class: "list" }, explain.decisions.map((d) => el("li", {}, time(d.at), ` ${d.decision}`,
          d.reason ? ` (${d.reason})` : "", d.due_at ? [" — due ", time(d.due_at)] : null)))) : null,
    );
    const upcoming = explain.next_runs || [];
    clear(parts.timeline).append(
      el("h2", { id: "h-timeline" }, "Timeline"),
      el("ol", { class: "timeline" },
        [...upcoming].reverse().map((at) => el("li", { class: "event upcoming", dataset: { event: "upcoming" } },
          el("span", { class: "event-name" }, "upcoming fire"), " ", time(at), el("span", { class: "muted" }, ` (${ago(at)})`))),
        el("li", { class: "now", "aria-label": "now" }, "now"),
        history.items.map((h) => el("li", { class: `event event-${h.event}`, dataset: { event: h.event } },
          el("span", { class: "event-name" }, h.event), " ", time(h.timestamp),
          h.note ? el("span", { class: "note" }, " — note: ", el("q", {}, h.note)) : null,
          Object.keys(h.details || {}).length ? el("span", { class: "muted details" }, ` ${Object.entries(h.details).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}`) : null))),
    );
  }

  async function act(action, label) {
    const body = note.value.trim() ? { note: note.value.trim() } : undefined;
    try {
      if (action === "run") {
        const out = await api(`/configs/${id}/run`, { method: "POST" });
        announce(`Run requested (task ${out.task_id}).`);
      } else {
        const out = await api(`/schedules/${id}/${action}`, { method: "POST", body });
        announce(`${label}: ${out.message} (now ${out.status}).`);
        note.value = "";
      }
    } catch (error) {
      announce(`${label} refused: ${error.message}`, true);
    }
    await refresh();
  }

  async function loadExecutions() {
    const params = new URLSearchParams({ config_id: String(id), limit: String(EXEC_PAGE), offset: String(filter.offset) });
    if (filter.is_success) params.set("is_success", filter.is_success);
    if (filter.trigger) params.set("trigger", filter.trigger);
    const [page, recent] = await Promise.all([
      api(`/executions?${params}`),
      api(`/executions?config_id=${id}&limit=100`),
    ]);
    clear(execBody);
    for (const x of page.items) {
      const open = expanded.has(x.id);
      const button = el("button", { type: "button", class: "link", "aria-expanded": open ? "true" : "false",
        "aria-controls": `exec-${x.id}`, onclick: () => {
          if (expanded.has(x.id)) expanded.delete(x.id);
          else expanded.add(x.id);
          const now = expanded.has(x.id);
          button.setAttribute("aria-expanded", now ? "true" : "false");
          detail.hidden = !now;
        } }, `#${x.id}`);
      const detail = el("tr", { id: `exec-${x.id}`, class: "exec-detail" }, el("td", { colspan: "6" },
        kv([["task id", x.task_id], ["worker", x.worker || "—"], ["started", time(x.started_at)], ["attempt", String(x.attempt)]]),
        el("h3", {}, "result"), x.result ? json(x.result) : el("p", { class: "muted" }, "none"),
        x.error_message ? [el("h3", {}, "error"), el("pre", { class: "error" }, x.error_message)] : null,
        x.traceback ? [el("h3", {}, "traceback"), el("pre", { class: "traceback" }, x.traceback)] : null));
      detail.hidden = !open;
      execBody.append(
        el("tr", { class: "exec", dataset: { id: x.id } },
          el("td", {}, button), el("td", {}, outcome(x.is_success)), el("td", {}, x.trigger),
          el("td", {}, time(x.completed_at)), el("td", {}, seconds(x.duration_seconds)),
          el("td", { class: "muted clip" }, x.error_message || "")),
        detail);
    }
    if (!page.items.length) execBody.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No executions.")));
    const first = page.total ? filter.offset + 1 : 0;
    execRange.textContent = `${first}–${filter.offset + page.items.length} of ${page.total}`;
    prev.disabled = filter.offset <= 0;
    next.disabled = filter.offset + page.items.length >= page.total;
    clear(parts.chart).append(el("h2", { id: "h-chart" }, "Durations and outcomes"),
      recent.items.length ? durations(recent.items) : el("p", { class: "muted" }, "No executions yet."));
  }

  function refresh() {
    return Promise.all([loadHead(), loadExecutions()]);
  }

  const outcomeFilter = el("select", { id: "exec-outcome", onchange: (e) => { filter.is_success = e.target.value; filter.offset = 0; loadExecutions(); } },
    el("option", { value: "" }, "any"), el("option", { value: "true" }, "ok"), el("option", { value: "false" }, "failed"));
  outcomeFilter.value = filter.is_success;
  const triggerFilter = el("select", { id: "exec-trigger", onchange: (e) => { filter.trigger = e.target.value; filter.offset = 0; loadExecutions(); } },
    el("option", { value: "" }, "any"), ["scheduled", "manual", "batch", "immediate"].map((t) => el("option", { value: t }, t)));
  triggerFilter.value = filter.trigger;

  if (writable) {
    parts.controls.append(el("div", { class: "controls card", role: "group", "aria-label": "schedule controls" },
      el("label", { for: "action-note" }, "Note"), note,
      ACTIONS.map(([action, label]) => el("button", { type: "button", class: "write", dataset: { action }, onclick: () => act(action, label) }, label)),
      el("button", { type: "button", class: "write", dataset: { action: "run" }, onclick: () => act("run", "Run now") }, "Run now")));
  }
  parts.executions.append(
    el("h2", { id: "h-executions" }, "Executions"),
    el("div", { class: "filters" },
      el("div", { class: "filter" }, el("label", { for: "exec-outcome" }, "Outcome"), outcomeFilter),
      el("div", { class: "filter" }, el("label", { for: "exec-trigger" }, "Trigger"), triggerFilter)),
    el("div", { class: "table-wrap" }, el("table", { id: "executions-table" },
      el("thead", {}, el("tr", {}, ["Execution", "Outcome", "Trigger", "Finished", "Duration", "Error"].map((h) => el("th", { scope: "col" }, h)))),
      execBody)),
    el("div", { class: "pager" }, prev, execRange, next),
  );
  await refresh();
  clear(root).append(
    el("p", { class: "crumbs" }, el("a", { href: "#/configs" }, "Configs"), " / ", `config ${id}`),
    parts.head, parts.verdict, parts.controls,
    el("div", { class: "columns" }, parts.timeline, parts.chart),
    parts.executions,
  );
  return {
    onEvents: (batch) => {
      if (batch.some(([, p]) => p && p.config_id === id)) refresh();
    },
  };
}
