// The next fires on a config's page (API.md "Skipping runs", "Jitter"): each with its due
// and (with a jitter) its sending time, each skippable, a skipped one restorable.

import { api } from "./api.js";
import { time } from "./clock.js";
import { el } from "./dom.js";

const dueOf = (skip) => (typeof skip === "string" ? skip : skip && skip.due_at) || null;

// [{due, send, skipped, note}] sorted by due time. `state` is GET /schedules/{id}: its
// `next_runs` are sending times (API.md "Jitter"), each in [due, due + jitter). Without a
// jitter they are the due times. With one, the due times are a cron's own (a preview of the
// same schedule without the jitter) or an interval's steps from its last fire's due time
// (`explain.last_fire`); a sending time no due time explains is shown without one (and
// cannot be skipped from here).
export async function nextFires(config, state, explain) {
  const sends = state.next_runs || [];
  const skipped = Array.isArray(state.skipped_runs) ? state.skipped_runs : [];
  const jitterMs = (Number((config.schedule_config || {}).jitter_seconds) || 0) * 1000;
  let fires = sends.map((at) => ({ due: at, send: at, skipped: false, note: null }));
  if (jitterMs > 0 && sends.length) {
    const dues = await dueTimes(config, explain, sends.length + skipped.length + 2);
    fires = sends.map((at) => {
      const s = Date.parse(at);
      const found = dues.find((d) => d <= s && s < d + jitterMs);
      return { due: found === undefined ? null : new Date(found).toISOString(), send: at, skipped: false, note: null };
    });
  }
  for (const skip of skipped) {
    const due = dueOf(skip);
    if (due) fires.push({ due, send: null, skipped: true, note: (skip && skip.note) || null });
  }
  return fires.sort((a, b) => Date.parse(a.due || a.send) - Date.parse(b.due || b.send));
}

// the next `count` due times (ms) of a jittered schedule, as far as the page can know them
async function dueTimes(config, explain, count) {
  const sc = config.schedule_config || {};
  if (config.scheduler_type === "cron") {
    const { jitter_seconds: _, ...unjittered } = sc;
    const preview = await api("/schedules/preview", { method: "POST", body: {
      scheduler_type: "cron", schedule_config: unjittered, count: Math.min(50, count) } });
    return preview.next_runs.map((at) => Date.parse(at));
  }
  const step = ((sc.seconds || 0) + (sc.minutes || 0) * 60 + (sc.hours || 0) * 3600 + (sc.days || 0) * 86400) * 1000;
  const anchor = explain && explain.last_fire && Date.parse(explain.last_fire.due_at);
  if (!step || !anchor) return [];
  const first = anchor + Math.max(0, Math.floor((Date.now() - anchor) / step) - 1) * step;
  return Array.from({ length: count + 2 }, (_, k) => first + k * step);
}

// the timeline's upcoming items, latest first; `act(kind, due)` skips or unskips one due time
// (only offered when `act` is given: an admin, a server that knows skips)
export function upcomingItems(fires, zone, act) {
  return [...fires].reverse().map((f) => {
    const jittered = f.send && f.due && f.send !== f.due;
    if (f.skipped) {
      return el("li", { class: "event upcoming skipped-run", dataset: { event: "skipped-run", due: f.due } },
        el("span", { class: "event-name" }, "skipped fire"), " ", time(f.due, zone),
        f.note ? el("span", { class: "note" }, " — note: ", el("q", {}, f.note)) : null,
        act ? [" ", el("button", { type: "button", class: "link write", dataset: { unskip: f.due, keep: `unskip-${f.due}` }, onclick: () => act("unskip", f.due) }, "Unskip")] : null);
    }
    return el("li", { class: "event upcoming", dataset: { event: "upcoming", due: f.due || "" } },
      el("span", { class: "event-name" }, "upcoming fire"), " ", f.due ? time(f.due, zone) : ["sent at ", time(f.send, zone)],
      jittered ? el("span", { class: "sending" }, ", sent at ", time(f.send, zone), " (jitter)") : null,
      act && f.due ? [" ", el("button", { type: "button", class: "link write", dataset: { skip: f.due, keep: `skip-${f.due}` }, onclick: () => act("skip", f.due) }, "Skip")] : null);
  });
}
