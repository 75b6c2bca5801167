// Alerts (API.md "Alerts"): the open incidents, on the overview and at the top of a config's
// page, and a config's alert settings in its form and on its page. A server without alerts
// (no GET /alerts, no `alerts` field) shows none of it.

import { ApiError, api } from "./api.js";
import { time } from "./clock.js";
import { el } from "./dom.js";
import { num, readNumber } from "./fields.js";

const KINDS = {
  late: "late",
  failing: "failing",
};

// the open incidents (of one config, or all), newest first, at most a page of them (`items`;
// `total` counts them all): null when the server has no alerts
export async function openIncidents(configId = null) {
  const params = new URLSearchParams({ state: "open", limit: "50" });
  if (configId !== null) params.set("config_id", String(configId));
  try {
    const page = await api(`/alerts?${params}`);
    return { items: page.items, total: typeof page.total === "number" ? page.total : page.items.length };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

// no live event tells of an incident (it opens and resolves apart from any status change or
// execution): a page that shows them looks again every few seconds, and calls `onChange`
// with the new list when it differs from the last one seen
const POLL_MS = 5000;
export function watchIncidents(configId, seen, onChange) {
  let last = JSON.stringify(seen);
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const items = await openIncidents(configId);
      const now = JSON.stringify(items);
      if (now !== last) {
        last = now;
        await onChange(items);
      }
    } catch {
      // a refused background look stays quiet, as every refresh does
    } finally {
      busy = false;
    }
  }, POLL_MS);
  return () => clearInterval(timer);
}

function incident(x, zone, withName) {
  const kind = KINDS[x.kind] || String(x.kind || "alert");
  return el("li", { class: "incident", dataset: { incident: x.id, kind } },
    el("span", { class: `badge badge-alert badge-${kind}` }, kind), " ",
    withName ? [el("a", { href: `#/configs/${x.config_id}` }, x.name || `config ${x.config_id}`), " "] : null,
    x.opened_at ? ["since ", time(x.opened_at, zone)] : null,
    x.detail ? el("span", { class: "incident-detail" }, ` — ${x.detail}`) : null);
}

// the overview's section: every open incident, each naming its config
export function incidentsSection(open) {
  if (open === null) return null;
  const { items, total } = open;
  return el("section", { "aria-labelledby": "h-incidents", id: "incidents" },
    el("h2", { id: "h-incidents" }, "Open incidents ", total ? el("span", { class: "badge badge-error" }, String(total)) : null),
    items.length
      ? el("ul", { class: "list incidents" }, items.map((x) => incident(x, null, true)))
      : el("p", { class: "muted" }, "No open incidents."),
    total > items.length ? el("p", { class: "muted" }, `the newest ${items.length} of ${total} shown`) : null);
}

// the top of a config's page: its open incidents, or nothing
export function incidentsBanner(open, zone) {
  const items = open ? open.items : [];
  if (!items.length) return null;
  return el("section", { class: "card incidents-banner", id: "config-incidents", role: "alert", "aria-labelledby": "h-config-incidents" },
    el("h2", { id: "h-config-incidents" }, items.length === 1 ? "Open incident" : `${items.length} open incidents`),
    el("ul", { class: "list incidents" }, items.map((x) => incident(x, zone, false))));
}

// 300 -> "5 min", 7200 -> "2 h", 45 -> "45 s"
function span(s) {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

// a config's alert settings in words ("late after 5 min; after 3 failures in a row")
export function alertWords(alerts) {
  if (!alerts) return "none";
  const words = [];
  if (alerts.late_after_seconds != null) words.push(`late after ${span(alerts.late_after_seconds)}`);
  if (alerts.failures_in_row != null) {
    words.push(alerts.failures_in_row === 1 ? "on a failure" : `after ${alerts.failures_in_row} failures in a row`);
  }
  return words.length ? words.join("; ") : "none";
}

// the form's "Alerts" part; its fields are "alerts.<name>" (a 422 lands beside them)
export function alertFields(fields, alerts) {
  const late = num(alerts && alerts.late_after_seconds);
  late.min = "30";
  late.max = "86400";
  const failures = num(alerts && alerts.failures_in_row);
  failures.min = "1";
  failures.max = "100";
  return el("fieldset", { class: "alerts" }, el("legend", {}, "Alerts"),
    el("p", { class: "hint" }, "An incident opens when a condition holds and resolves by itself; empty: no alert."),
    el("div", { class: "row" },
      fields.add("alerts.late_after_seconds", "Late after (seconds)", late,
        { hint: "30..86400: a due fire with no run started this long after", read: readNumber(late) }),
      fields.add("alerts.failures_in_row", "Failures in a row", failures,
        { hint: "1..100: this many executions failed one after another", read: readNumber(failures) })));
}

// what the form sends as `alerts`: both settings (null for an empty one), null for none on a
// config that had some, and nothing at all (undefined) for none on one that had none
export function alertsValue(values, had) {
  if (values.late_after_seconds === undefined && values.failures_in_row === undefined) return had ? null : undefined;
  return { late_after_seconds: values.late_after_seconds ?? null, failures_in_row: values.failures_in_row ?? null };
}
