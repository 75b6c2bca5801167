// The parts of a cron or interval schedule that plan around the calendar (API.md
// "Exclusions", "Jitter"): excluded dates, public holidays of a country (and subdivision), and
// a jitter. Their fields sit under "schedule_config." so the form's live preview follows them
// and a 422 lands beside the field its `loc` names.

import { el } from "./dom.js";
import { num, readNumber, readText, text } from "./fields.js";

// "2026-12-24, 2026-12-31" or one a line -> ["2026-12-24", "2026-12-31"]; empty: undefined
function readDates(input) {
  return () => {
    const dates = input.value.split(/[\s,;]+/).map((d) => d.trim()).filter(Boolean);
    return dates.length ? dates : undefined;
  };
}

export function scheduleExtras(fields, kind, same) {
  const exclude = (same && same.exclude) || {};
  const holidays = exclude.holidays || {};
  const dates = el("textarea", { rows: "2", class: "code", spellcheck: "false", placeholder: "2026-12-24\n2026-12-31" });
  dates.value = (exclude.dates || []).join("\n");
  const country = text(holidays.country, { maxlength: "3", spellcheck: "false", placeholder: "DE", class: "short" });
  const subdivision = text(holidays.subdivision, { maxlength: "10", spellcheck: "false", placeholder: "BY", class: "short" });
  const jitter = num(same && same.jitter_seconds);
  jitter.min = "0";
  jitter.max = "3600";
  const zone = kind === "cron" ? "the schedule's time zone" : "UTC";
  const used = Boolean((exclude.dates && exclude.dates.length) || holidays.country || (same && same.jitter_seconds));
  return el("details", { class: "policies exclusions", open: used, dataset: { keep: "exclusions" } },
    el("summary", {}, "Exclusions and jitter"),
    fields.add("schedule_config.exclude.dates", "Dates without fires", dates, {
      hint: `YYYY-MM-DD, one a line or comma-separated (at most 366), by the local date in ${zone}`,
      read: readDates(dates),
    }),
    el("div", { class: "row" },
      fields.add("schedule_config.exclude.holidays.country", "Public holidays of country", country,
        { hint: "ISO code, e.g. DE, US, FR", read: readText(country) }),
      fields.add("schedule_config.exclude.holidays.subdivision", "Subdivision", subdivision,
        { hint: "optional, e.g. BY, CA", read: readText(subdivision) })),
    fields.add("schedule_config.jitter_seconds", "Jitter (seconds)", jitter, {
      hint: "0..3600 and less than the interval: each fire is sent up to this much after its due time, the same offset in every scheduler",
      read: readNumber(jitter),
    }));
}
