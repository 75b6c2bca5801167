// A config's page, built for diagnosis: its open incidents on top, the verdict (why it did or
// did not run, its last execution, a failure streak, a pause's end), the controls its status
// and kind allow (pause until, backfill), the timeline (the next fires, each skippable; fires
// as a strip of ticks; the notable events listed with who did them), its executions
// (filtered, paged, expandable) and a chart of them. Live refreshes update it in place.

import { ACTIONS, actionButton, allowed, confirmed } from "./actions.js";
import { alertWords, incidentsBanner, openIncidents, watchIncidents } from "./alerts.js";
import { ApiError, api, canWrite } from "./api.js";
import { durations } from "./chart.js";
import { scheduleWords, scheduleZone, time, verdictWithTimes, when } from "./clock.js";
import { announce, badge, el, json, keeping, outcome, patch, percent, put, seconds } from "./dom.js";
import { plain } from "./fields.js";
import { rename } from "./names.js";
import { backfillButton, pauseUntil, pausedUntilLine } from "./pause_backfill.js";
import { nextFires, upcomingItems } from "./planning.js";
import { timelineItems } from "./timeline.js";

const EXEC_PAGE = 20;
const RECENT = 100; // executions read for the streak and the chart

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// "failed the last 41 runs: ConnectionRefused…" (null when the last run succeeded)
export function streak(recent) {
  let n = 0;
  while (n < recent.length && !recent[n].is_success) n += 1;
  if (!n) return null;
  const error = recent[0].error_message || "no error message";
  const runs = n === recent.length && n === RECENT ? `at least ${n} runs` : n === 1 ? "run" : `${n} runs`;
  return `Failed the last ${runs}: ${error}`;
}

export async function renderConfig(root, id, query) {
  const writable = canWrite();
  const filter = { is_success: query.get("is_success") || "", trigger: query.get("trigger") || "", offset: 0 };
  const parts = {
    incidents: el("div", { id: "incidents-slot" }), head: el("div"), verdict: el("section", { class: "verdict card", id: "verdict", "aria-labelledby": "h-verdict" }),
    controls: el("div"), timeline: el("section", { id: "timeline", "aria-labelledby": "h-timeline" }),
    chart: el("section", { id: "chart", "aria-labelledby": "h-chart" }), executions: el("section", { id: "executions", "aria-labelledby": "h-executions" }),
  };
  const crumb = el("span", { id: "crumb-name" });
  const note = el("input", { id: "action-note", type: "text", maxlength: "2000", placeholder: "why (kept with the status)", autocomplete: "off" });
  const buttons = el("span", { class: "actions" });
  const expanded = new Set();
  const execBody = el("tbody");
  const execRange = el("span", { class: "range", role: "status" });
  const prev = el("button", { type: "button", class: "secondary", onclick: () => { filter.offset = Math.max(0, filter.offset - EXEC_PAGE); loadExecutions(); } }, "Newer");
  const next = el("button", { type: "button", class: "secondary", onclick: () => { filter.offset += EXEC_PAGE; loadExecutions(); } }, "Older");
  let config = null;
  let zone = null; // the schedule's own zone (cron with a timezone)
  let shownIncidents = null;
  const until = pauseUntil();
  const page = { config: () => config, zone: () => zone };
  const [backfill, backfillDialog] = backfillButton(page, note, () => keeping(root, refresh));
  const enums = writable ? await api("/system/enums") : null;
  const canBackfill = Boolean(enums && (enums.triggers || []).includes("backfill"));

  async function loadHead() {
    const [fresh, explain, history, recent, state, incidents] = await Promise.all([
      api(`/configs/${id}?include_stats=true`),
      api(`/schedules/${id}/explain`),
      api(`/schedules/${id}/history?limit=100`),
      api(`/executions?config_id=${id}&limit=${RECENT}`),
      api(`/schedules/${id}`),
      openIncidents(id),
    ]);
    config = fresh;
    rename(id, config.name);
    zone = scheduleZone(config);
    const stats = config.stats || {};
    crumb.textContent = config.name;
    shownIncidents = incidents;
    put(parts.incidents, incidentsBanner(incidents, zone));
    put(parts.head,
      el("div", { class: "title-row" },
        el("h1", {}, config.name), badge(config.schedule_status),
        writable ? [
          el("a", { href: `#/configs/${id}/edit`, class: "button secondary write", dataset: { keep: "edit" } }, "Edit"),
          el("a", { href: `#/configs/new?from=${id}`, class: "button secondary write", dataset: { keep: "clone" } }, "Clone"),
          backfill,
          actionButton("delete", "Delete", remove, { dataset: { keep: "delete", action: "delete" } }),
        ] : null),
      config.description ? el("p", { class: "description" }, config.description) : null,
      kv([
        ["task type", config.task_type],
        ["schedule", scheduleWords(config)],
        ["next run", time(config.next_run_at, zone)],
        ["runs", stats.total != null ? `${stats.total} (${stats.failed} failed, success ${percent(stats.success_rate)})` : "—"],
        ["duration", stats.total ? `avg ${seconds(stats.avg_duration_seconds)}, p95 ${seconds(stats.p95_duration_seconds)}` : "—"],
        ["retries / timeout / priority", `${config.max_retries} / ${config.timeout_seconds ?? "default"} / ${config.priority}`],
        ...("alerts" in config ? [["alerts", alertWords(config.alerts)]] : []),
      ]),
      el("details", { dataset: { keep: "parameters" } }, el("summary", {}, "parameters and schedule"),
        json({ schedule_config: config.schedule_config, parameters: config.parameters })),
    );
    const last = recent.items[0] || explain.last_execution;
    const pausedUntil = state.paused_until || explain.paused_until || null;
    const failing = streak(recent.items);
    put(parts.verdict,
      el("h2", { id: "h-verdict" }, "Why did it (not) run?"),
      el("p", { class: "verdict-text", id: "verdict-text" }, verdictWithTimes(explain, zone)),
      failing ? el("p", { class: "failed streak", id: "failure-streak" }, failing) : null,
      el("p", { id: "last-execution" }, "Last execution: ", last
        ? [outcome(last.is_success), " ", time(last.completed_at, zone), ` (${last.trigger}, ${seconds(last.duration_seconds)})`,
          last.error_message ? [" — ", el("span", { class: "failed" }, last.error_message)] : null]
        : el("span", { class: "muted" }, "none yet")),
      pausedUntil ? pausedUntilLine(pausedUntil, zone) : null,
      explain.note ? el("p", { class: "note" }, "Note: ", el("q", { id: "status-note" }, explain.note), explain.status_at ? [" — ", time(explain.status_at, zone)] : null) : null,
      explain.decisions.length ? el("details", { dataset: { keep: "decisions" } }, el("summary", {}, "latest scheduler decisions"),
        el("ul", { class: "list" }, explain.decisions.map((d) => el("li", {}, time(d.at, zone), ` ${d.decision}`,
          d.reason ? ` (${d.reason})` : null, d.due_at ? [" — due ", time(d.due_at, zone)] : null)))) : null,
    );
    if (writable) {
      const can = allowed(config);
      put(buttons,
        ACTIONS.filter(([action]) => can.has(action)).map(([action, label]) =>
          actionButton(action, label, () => act(action, label), { dataset: { keep: `action-${action}`, action } })),
        actionButton("run", "Run now", () => act("run", "Run now"), { dataset: { keep: "action-run", action: "run" } }));
      // a server that knows "until" says so with `paused_until` in the schedule's state
      until.node.hidden = !(can.has("pause") && "paused_until" in state);
      backfill.hidden = !(canBackfill && config.scheduler_type !== "manual");
    }
    // skips: an admin, an active cron or interval schedule, a server that lists skipped runs
    const skippable = writable && Array.isArray(state.skipped_runs) && config.schedule_status === "active"
      && (config.scheduler_type === "cron" || config.scheduler_type === "interval");
    const fires = await nextFires(config, state, explain);
    const outcomes = new Map(recent.items.map((x) => [x.task_id, x.is_success]));
    put(parts.timeline,
      el("h2", { id: "h-timeline" }, "Timeline"),
      el("ol", { class: "timeline" },
        upcomingItems(fires, zone, skippable ? skip : null),
        el("li", { class: "now", "aria-label": "now" }, "now"),
        timelineItems(history.items, outcomes, zone)),
    );
  }

  // skip or unskip one upcoming due time, with the note typed in the controls
  async function skip(kind, due) {
    const body = { due_at: [due] };
    if (note.value.trim()) body.note = note.value.trim();
    try {
      if (kind === "skip") await api(`/schedules/${id}/skip`, { method: "POST", body });
      else await api(`/schedules/${id}/unskip`, { method: "POST", body });
      announce(`${kind === "skip" ? "Skipped" : "Restored"} the fire due ${when(due, zone)} of ${config.name}.`);
      note.value = "";
    } catch (error) {
      announce(`${kind === "skip" ? "Skip" : "Unskip"} refused: ${error.message}`, true);
    }
    await keeping(root, refresh);
  }

  async function act(action, label) {
    if (!confirmed(action, config.name)) return;
    const body = note.value.trim() ? { note: note.value.trim() } : {};
    const pauseEnd = action === "pause" && !until.node.hidden ? until.read() : undefined;
    if (pauseEnd) body.until = pauseEnd;
    try {
      if (action === "run") {
        const out = await api(`/configs/${id}/run`, { method: "POST" });
        announce(`Run requested for ${config.name} (task ${out.task_id}).`);
      } else {
        const out = await api(`/schedules/${id}/${action}`, { method: "POST", body: Object.keys(body).length ? body : undefined });
        announce(`${label} ${config.name}: ${out.message} (now ${out.status}).`);
        note.value = "";
        if (pauseEnd) until.clear();
      }
    } catch (error) {
      const onUntil = error instanceof ApiError && error.fieldErrors.find((d) => (d.loc || []).includes("until"));
      if (onUntil) until.refuse(plain(onUntil.msg));
      announce(`${label} refused: ${error.message}`, true);
    }
    await keeping(root, refresh);
  }

  async function remove() {
    if (!confirmed("delete", config.name)) return;
    try {
      await api(`/configs/${id}`, { method: "DELETE" });
    } catch (error) {
      announce(`Delete refused: ${error.message}`, true);
      return;
    }
    announce(`Deleted ${config.name}.`, false, "/configs");
    location.hash = "#/configs";
  }

  function execRow(x) {
    const open = expanded.has(x.id);
    return el("tr", { class: "exec", dataset: { id: x.id } },
      el("td", {}, el("button", { type: "button", class: "link", "aria-expanded": open ? "true" : "false",
        "aria-controls": `exec-${x.id}`, dataset: { keep: `exec-${x.id}` }, onclick: (event) => {
          if (expanded.has(x.id)) expanded.delete(x.id);
          else expanded.add(x.id);
          const now = expanded.has(x.id);
          event.currentTarget.setAttribute("aria-expanded", now ? "true" : "false");
          document.getElementById(`exec-${x.id}`).hidden = !now;
        } }, `#${x.id}`)),
      el("td", {}, outcome(x.is_success)), el("td", {}, x.trigger),
      el("td", {}, time(x.completed_at, zone)), el("td", {}, seconds(x.duration_seconds)),
      el("td", { class: "muted clip" }, x.error_message || ""));
  }

  function execDetail(x) {
    const detail = el("tr", { id: `exec-${x.id}`, class: "exec-detail" }, el("td", { colspan: "6" },
      kv([["task id", x.task_id], ["worker", x.worker || "—"], ["started", time(x.started_at, zone)], ["attempt", String(x.attempt)]]),
      el("h3", {}, "result"), x.result ? json(x.result) : el("p", { class: "muted" }, "none"),
      x.error_message ? [el("h3", {}, "error"), el("pre", { class: "error" }, x.error_message)] : null,
      x.traceback ? [el("h3", {}, "traceback"), el("pre", { class: "traceback" }, x.traceback)] : null));
    detail.hidden = !expanded.has(x.id);
    return detail;
  }

  async function loadExecutions() {
    const params = new URLSearchParams({ config_id: String(id), limit: String(EXEC_PAGE), offset: String(filter.offset) });
    if (filter.is_success) params.set("is_success", filter.is_success);
    if (filter.trigger) params.set("trigger", filter.trigger);
    const [page, recent] = await Promise.all([
      api(`/executions?${params}`),
      api(`/executions?config_id=${id}&limit=${RECENT}`),
    ]);
    const stamp = Math.floor(Date.now() / 60000); // "5 min ago" moves on once a minute
    patch(execBody, page.items.length
      ? page.items.flatMap((x) => [
        [x.id, `${stamp}|${zone}`, () => execRow(x)],
        [`d${x.id}`, String(zone), () => execDetail(x)],
      ])
      : [["none", "none", () => el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No executions."))]]);
    const first = page.total ? filter.offset + 1 : 0;
    execRange.textContent = `${first}–${filter.offset + page.items.length} of ${page.total}`;
    prev.disabled = filter.offset <= 0;
    next.disabled = filter.offset + page.items.length >= page.total;
    put(parts.chart, el("h2", { id: "h-chart" }, "Durations and outcomes"),
      recent.items.length ? durations(recent.items) : el("p", { class: "muted" }, "No executions yet."));
  }

  async function refresh() {
    await loadHead(); // the zone of the executions' times comes with the config
    await loadExecutions();
  }

  const outcomeFilter = el("select", { id: "exec-outcome", onchange: (e) => { filter.is_success = e.target.value; filter.offset = 0; loadExecutions(); } },
    el("option", { value: "" }, "any"), el("option", { value: "true" }, "ok"), el("option", { value: "false" }, "failed"));
  outcomeFilter.value = filter.is_success;
  const triggerFilter = el("select", { id: "exec-trigger", onchange: (e) => { filter.trigger = e.target.value; filter.offset = 0; loadExecutions(); } },
    el("option", { value: "" }, "any"), ["scheduled", "manual", "batch", "immediate", "backfill"].map((t) => el("option", { value: t }, t)));
  triggerFilter.value = filter.trigger;

  if (writable) {
    put(parts.controls, el("div", { class: "controls card", role: "group", "aria-label": "schedule controls" },
      el("label", { for: "action-note" }, "Note"), note, buttons, until.node));
  }
  put(parts.executions,
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
  put(root,
    el("p", { class: "crumbs" }, el("a", { href: "#/configs" }, "Configs"), " / ", crumb),
    parts.incidents, parts.head, parts.verdict, parts.controls,
    el("div", { class: "columns" }, parts.timeline, parts.chart),
    parts.executions,
    writable ? backfillDialog : null,
  );
  let disposed = false;
  // an incident that opens or resolves refreshes the page: the verdict and the timeline name it too
  const stopWatching = shownIncidents === null ? () => {}
    : watchIncidents(id, shownIncidents, () => (disposed ? null : keeping(root, refresh)));
  return {
    onEvents: async (batch) => {
      if (!disposed && batch.some(([, p]) => p && p.config_id === id)) await keeping(root, refresh);
    },
    dispose: () => { disposed = true; stopWatching(); },
  };
}

