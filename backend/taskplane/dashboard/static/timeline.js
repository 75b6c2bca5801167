// A config's history as an operator reads it: runs of `fired` / `skipped` events folded into
// one strip of ticks (ok / failed / skipped), the notable events (pauses, notes, updates with
// their changes, alerts, errors) listed one by one with who did them, every time in words in
// the chosen zone.

import { time, when } from "./clock.js";
import { el } from "./dom.js";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;
const STRIP = new Set(["fired", "skipped"]);

function value(v, zone) {
  if (typeof v === "string" && ISO.test(v)) return when(v, zone);
  if (v === null || v === undefined) return "none";
  if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)) return v.map((x) => value(x, zone)).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// an event's details in words: "due: Dec 7, …, reason: overlap"; an update's changes (API.md
// "Who did it": {field: {from, to}}) are listed apart, by changeList
export function eventDetails(details, zone) {
  const words = [];
  for (const [key, v] of Object.entries(details || {})) {
    if (key === "task_id" || (key === "changes" && v && typeof v === "object")) continue;
    if (key === "changed" && details.changes) continue; // the changed fields' names: listed below
    words.push(`${key.replace(/_at$/, "").replace(/_/g, " ")}: ${value(v, zone)}`);
  }
  return words.join(", ");
}

// an update's changes, one item a field: "schedule_config: {…} → {…}" (a masked secret reads
// "***" as the server wrote it); null when there are none
export function changeList(details, zone) {
  const changes = details && details.changes;
  if (!changes || typeof changes !== "object" || !Object.keys(changes).length) return null;
  return el("ul", { class: "changes" }, Object.entries(changes).map(([field, change]) =>
    el("li", { dataset: { field } }, el("span", { class: "field-name" }, field), ": ",
      el("span", { class: "from" }, value(change && change.from, zone)), " → ",
      el("span", { class: "to" }, value(change && change.to, zone)))));
}

function tick(event, outcomes, zone) {
  let kind = "skipped";
  if (event.event === "fired") {
    const ok = outcomes.get(event.details && event.details.task_id);
    kind = ok === undefined ? "fired" : ok ? "ok" : "failed";
  }
  const why = event.details && event.details.reason ? ` (${event.details.reason})` : "";
  return el("span", { class: `tick tick-${kind}`, title: `${when(event.timestamp, zone)}: ${kind}${why}`, dataset: { tick: kind } });
}

// " by scheduler" (every actor of the events, once each); nothing when the server names none
function actorOf(events) {
  const actors = [...new Set(events.map((e) => e.actor).filter((a) => typeof a === "string" && a))];
  return actors.length ? el("span", { class: "muted actor" }, ` by ${actors.join(", ")}`) : null;
}

function strip(events, outcomes, zone) {
  const ticks = [...events].reverse().map((e) => tick(e, outcomes, zone));
  const count = (k) => ticks.filter((t) => t.dataset.tick === k).length;
  const parts = [["ok", count("ok")], ["failed", count("failed")], ["skipped", count("skipped")], ["not recorded yet", count("fired")]]
    .filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(", ");
  return el("li", { class: "event strip", dataset: { event: "strip" } },
    el("span", { class: "event-name" }, `${events.length} fire${events.length === 1 ? "" : "s"}`), " ",
    el("span", { class: "muted" }, `(${parts}) `), time(events[events.length - 1].timestamp, zone), " – ", time(events[0].timestamp, zone),
    actorOf(events),
    el("span", { class: "ticks", role: "img", "aria-label": parts }, ticks));
}

// history newest first -> <li>s: strips of consecutive fires and skips, and the rest one each
export function timelineItems(history, outcomes, zone) {
  const items = [];
  let run = [];
  const flush = () => {
    if (run.length) items.push(strip(run, outcomes, zone));
    run = [];
  };
  for (const h of history) {
    if (STRIP.has(h.event) && !h.note) {
      run.push(h);
      continue;
    }
    flush();
    const details = eventDetails(h.details, zone);
    items.push(el("li", { class: `event event-${h.event}`, dataset: { event: h.event } },
      el("span", { class: "event-name" }, h.event), " ", time(h.timestamp, zone),
      actorOf([h]),
      h.note ? el("span", { class: "note" }, " — note: ", el("q", {}, h.note)) : null,
      details ? el("span", { class: "muted details" }, ` ${details}`) : null,
      changeList(h.details, zone)));
  }
  flush();
  return items;
}
