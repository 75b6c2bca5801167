// The one way a time is shown: in the zone the header's toggle picks (the schedule's own zone,
// the browser's, or UTC), always labelled with that zone, with the distance from now beside
// it, in the page's language (the UI's, not the browser's), never as raw ISO.

import { el } from "./dom.js";

const KEY = "taskplane-zone";
export const MODES = ["schedule", "browser", "utc"];

export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export const clock = {
  get mode() {
    const mode = sessionStorage.getItem(KEY);
    return MODES.includes(mode) ? mode : "schedule";
  },
  set mode(value) {
    sessionStorage.setItem(KEY, value);
  },
};

export function modeLabel(mode) {
  if (mode === "utc") return "UTC";
  if (mode === "browser") return `this browser (${browserZone()})`;
  return "each schedule's zone";
}

// the zone a time is shown in: a schedule's own zone (cron with a timezone) only in
// "schedule" mode; everything else in the browser's zone, or UTC
export function zoneFor(scheduleZone) {
  const mode = clock.mode;
  if (mode === "utc") return "UTC";
  if (mode === "schedule" && scheduleZone) return scheduleZone;
  return browserZone();
}

const lang = () => document.documentElement.lang || "en";
const formats = new Map();
function format(zone, withDate) {
  const key = `${zone}|${withDate}|${lang()}`;
  if (!formats.has(key)) {
    const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: zone };
    if (withDate) Object.assign(options, { year: "numeric", month: "short", day: "numeric" });
    formats.set(key, new Intl.DateTimeFormat(lang(), options));
  }
  return formats.get(key);
}

// "Dec 7, 2026, 02:30:00 Europe/Berlin"
export function when(iso, scheduleZone) {
  if (!iso) return "—";
  const zone = zoneFor(scheduleZone);
  return `${format(zone, true).format(new Date(iso))} ${zone}`;
}

// "Dec 7, 2026, 02:30:00 UTC": in the zone named, whatever the header's toggle says (what a
// picker in the browser's zone will send)
export function whenIn(iso, zone) {
  if (!iso) return "—";
  return `${format(zone, true).format(new Date(iso))} ${zone}`;
}

// an ISO instant as a datetime-local value in this browser's zone ("2030-12-01T11:00:00"),
// and such a value back as an ISO instant in UTC ("" when empty or not a time)
export function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

// "02:30" in the zone: an hour label for charts
export function hourLabel(ms, scheduleZone) {
  return format(zoneFor(scheduleZone), false).format(new Date(ms)).slice(0, 5);
}

// "in 6 h" / "5 min ago"
export function ago(iso) {
  if (!iso) return "—";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 60) text = `${Math.round(s)} s`;
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

// a <time> (the instant in its attribute, the same time in UTC as its tooltip) and how far
// from now, in a <span class="when">
export function time(iso, scheduleZone) {
  if (!iso) return el("span", { class: "muted" }, "—");
  const shown = when(iso, scheduleZone);
  const utc = `${format("UTC", true).format(new Date(iso))} UTC`;
  return el("span", { class: "when" },
    el("time", { datetime: iso, title: utc }, shown), " ", el("span", { class: "muted rel" }, `(${ago(iso)})`));
}

// the zone a config's times are shown in by default: a cron's own timezone, else none
export function scheduleZone(config) {
  return (config.scheduler_type === "cron" && config.schedule_config && config.schedule_config.timezone) || null;
}

// a config's schedule in words; a date schedule's time shown as every other time is
export function scheduleWords(config) {
  if (config.scheduler_type === "date" && config.schedule_config && config.schedule_config.run_date) {
    return ["once, at ", time(config.schedule_config.run_date)];
  }
  return config.schedule || config.scheduler_type;
}

// The explain verdict, written by the server with its times in UTC ("next fire 01:30 UTC",
// "paused since 2026-12-01 10:02 UTC"), with each time shown as every other one is: the
// instant is the explain answer's own (next_runs, status_at, last_fire, decisions ...) that
// reads the same in UTC to the minute, else the one the words name. A note quoted in the
// sentence is the operator's text and stays as written.
const UTC_TIME = /(?:(\d{4}-\d\d-\d\d) )?(\d\d):(\d\d) UTC\b/g;
const ISO_VALUE = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

function instantsIn(value, out = []) {
  if (typeof value === "string" && ISO_VALUE.test(value)) out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => instantsIn(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => instantsIn(v, out));
  return out;
}

export function verdictWithTimes(explain, scheduleZone) {
  const text = explain.verdict || "";
  const candidates = instantsIn({ ...explain, verdict: null }).map((iso) => [iso, new Date(iso).toISOString()]);
  const noteAt = explain.note ? text.indexOf(explain.note) : -1;
  const inNote = (i) => noteAt >= 0 && i >= noteAt && i < noteAt + explain.note.length;
  const today = new Date().toISOString().slice(0, 10);
  const parts = [];
  let from = 0;
  for (const m of text.matchAll(UTC_TIME)) {
    if (inNote(m.index)) continue;
    const [, date, hh, mm] = m;
    const minute = `${hh}:${mm}`;
    const exact = candidates.find(([, utc]) => utc.slice(11, 16) === minute && (!date || utc.slice(0, 10) === date)
      && (date || Math.abs(Date.parse(utc) - Date.now()) < 86_400_000));
    const iso = exact ? exact[0] : `${date || today}T${minute}:00Z`;
    parts.push(text.slice(from, m.index), time(iso, scheduleZone));
    from = m.index + m[0].length;
  }
  parts.push(text.slice(from));
  return parts;
}
