// The overview: open incidents, schedules by status, executions in the last 24 h, runs per
// hour, recent failures, next fires, and the health of every component.

import { incidentsSection, openIncidents, watchIncidents } from "./alerts.js";
import { API, api } from "./api.js";
import { runsPerHour } from "./chart.js";
import { time } from "./clock.js";
import { el, keeping, percent, put, seconds } from "./dom.js";
import { namesOf } from "./names.js";

const REFRESH_MS = 1000; // live events refresh the overview at most once a second

function tile(label, value, key, extra) {
  return el("div", { class: `tile tile-${key}`, dataset: { tile: key } },
    el("span", { class: "tile-value" }, String(value)), el("span", { class: "tile-label" }, label), extra);
}

async function health() {
  // open endpoint; 503 still carries the body that says what is down
  const response = await fetch(API + "/system/health", { cache: "no-store" });
  return response.json();
}

function component(name, part, extra) {
  const ok = part && part.ok;
  return el("li", { class: "health", dataset: { component: name } },
    el("strong", {}, name), " ", el("span", { class: ok ? "ok" : "failed" }, ok ? "up" : "down"),
    part && part.error ? el("span", { class: "muted" }, ` — ${part.error}`) : null,
    part && part.down_since ? [" since ", time(part.down_since)] : null,
    extra ? [" — ", extra] : null);
}

// one refresh: five small constant-size answers (the open incidents: one page at most); the
// chart and the execution tiles come from one server-side aggregate (GET
// /executions/histogram), never from execution records
async function draw(root, shown) {
  const [board, status, healthy, day, incidents] = await Promise.all([
    api("/system/dashboard"),
    api("/system/status"),
    health(),
    api("/executions/histogram?bucket=3600"),
    openIncidents(),
  ]);
  const name = await namesOf(board.recent_failures.map((x) => x.config_id));
  const s = board.schedules;
  const e = { total: day.total, failed: day.failed, success_rate: day.total ? (day.total - day.failed) / day.total : null };
  const leader = status.scheduler.leader;
  const queues = [...new Set(status.workers.flatMap((w) => w.queues))];
  shown.incidents = incidents;
  put(root,
    el("h1", {}, "Overview"),
    incidentsSection(incidents),
    el("section", { "aria-labelledby": "h-schedules" },
      el("h2", { id: "h-schedules" }, "Schedules"),
      el("div", { class: "tiles" },
        tile("total", s.total, "total"), tile("active", s.active, "active"), tile("paused", s.paused, "paused"),
        tile("inactive", s.inactive, "inactive"), tile("error", s.error, "error"))),
    el("section", { "aria-labelledby": "h-executions" },
      el("h2", { id: "h-executions" }, "Executions, last 24 h"),
      el("div", { class: "tiles" },
        tile("executions", e.total, "executions"), tile("failed", e.failed, "failed"),
        tile("success rate", percent(e.success_rate), "success-rate")),
      runsPerHour(day)),
    el("div", { class: "columns" },
      el("section", { "aria-labelledby": "h-failures" },
        el("h2", { id: "h-failures" }, "Recent failures"),
        board.recent_failures.length
          ? el("ul", { class: "list", id: "recent-failures" }, board.recent_failures.map((x) =>
            el("li", {}, el("a", { href: `#/configs/${x.config_id}` }, name(x.config_id)), " ",
              time(x.completed_at), " ", el("span", { class: "failed" }, x.error_message || "failed"),
              el("span", { class: "muted" }, ` (${x.trigger}, ${seconds(x.duration_seconds)})`))))
          : el("p", { class: "muted" }, "No failures."),
        el("p", {}, el("a", { href: "#/executions?is_success=false", id: "all-failures", dataset: { keep: "all-failures" } }, "All failures →"))),
      el("section", { "aria-labelledby": "h-next" },
        el("h2", { id: "h-next" }, "Next fires"),
        board.next_fires.length
          ? el("ul", { class: "list", id: "next-fires" }, board.next_fires.map((x) =>
            el("li", {}, el("a", { href: `#/configs/${x.config_id}` }, x.name), " ", time(x.next_run_at))))
          : el("p", { class: "muted" }, "Nothing scheduled."))),
    el("section", { "aria-labelledby": "h-health" },
      el("h2", { id: "h-health" }, "Health ", el("span", { class: healthy.status === "ok" ? "badge badge-active" : "badge badge-error" }, healthy.status)),
      el("ul", { class: "health-list" },
        component("database", healthy.database, healthy.database.latency_ms != null ? `${healthy.database.latency_ms.toFixed(1)} ms` : null),
        component("redis", healthy.redis, healthy.redis.latency_ms != null ? `${healthy.redis.latency_ms.toFixed(1)} ms` : null),
        component("scheduler", healthy.scheduler,
          `${status.scheduler.instances.length} instance(s), leader ${leader || "none"}`),
        component("workers", healthy.workers,
          `${status.workers.length} worker(s), queues ${queues.length ? queues.join(", ") : "none"}`)),
      el("p", { class: "muted" }, `taskplane ${status.version}, api up ${seconds(status.uptime_seconds)}; `,
        `${status.counts.configs} configs, ${status.counts.executions} executions stored.`)),
  );
}

export async function renderOverview(root) {
  const shown = { incidents: null };
  await draw(root, shown);
  let last = Date.now();
  let timer = null;
  let busy = false;
  async function refresh() {
    timer = null;
    if (busy) return;
    busy = true;
    last = Date.now();
    try {
      await keeping(root, () => draw(root, shown));
    } finally {
      busy = false;
    }
  }
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, last + REFRESH_MS - Date.now()));
  };
  const stopWatching = shown.incidents === null ? () => {} : watchIncidents(null, shown.incidents, schedule);
  return {
    onEvents: schedule,
    dispose: () => { clearTimeout(timer); stopWatching(); },
  };
}
