// Planning ahead on a config's page (API.md "Pause until", "Backfill"): the "until" of a
// pause, picked in this browser's zone and sent as UTC, and the backfill dialog, which shows
// what a dry run found before anything is sent.

import { ApiError, api } from "./api.js";
import { browserZone, fromLocalInput, localInput, time, whenIn } from "./clock.js";
import { announce, el, put } from "./dom.js";
import { plain } from "./fields.js";

// --- pause until ----------------------------------------------------------------------------

// the picker beside the Pause button: `read()` is the ISO instant in UTC (undefined: none)
export function pauseUntil() {
  const input = el("input", { id: "pause-until", type: "datetime-local", step: "60", "aria-describedby": "pause-until-hint pause-until-error" });
  const hint = el("span", { class: "hint", id: "pause-until-hint" });
  const error = el("span", { class: "field-error", id: "pause-until-error", role: "alert" });
  const explain = () => {
    const iso = fromLocalInput(input.value);
    hint.textContent = iso
      ? `in ${browserZone()}: sent as ${whenIn(iso, "UTC")}; resumes by itself then`
      : `optional, in this browser's zone (${browserZone()}); empty: paused until resumed`;
  };
  input.addEventListener("input", () => { error.textContent = ""; input.removeAttribute("aria-invalid"); explain(); });
  explain();
  const node = el("span", { class: "pause-until" }, el("label", { for: "pause-until" }, "Pause until"), input, hint, error);
  return {
    node,
    read: () => fromLocalInput(input.value) || undefined,
    clear: () => { input.value = ""; explain(); },
    refuse: (message) => {
      error.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    },
  };
}

// "Resumes by itself at …" (null when the pause has no end, or the server knows none)
export function pausedUntilLine(pausedUntil, zone) {
  if (!pausedUntil) return null;
  return el("p", { id: "paused-until" }, "Paused until ", time(pausedUntil, zone), ": it resumes by itself then.");
}

// --- backfill -------------------------------------------------------------------------------

// a "Backfill…" button and its dialog, made once per page (a live refresh leaves an open
// dialog alone): choose a range (this browser's zone), see the due times a dry run finds
// (which already ran, which would be sent), then send them. `page.config()` and `page.zone()`
// are the config and its zone as last loaded.
export function backfillButton(page, note, onDone) {
  const dialog = el("dialog", { id: "backfill-dialog", class: "card dialog", "aria-labelledby": "h-backfill" });
  const start = el("input", { type: "datetime-local", step: "1", id: "backfill-start" });
  const end = el("input", { type: "datetime-local", step: "1", id: "backfill-end" });
  const noteInput = el("input", { type: "text", id: "backfill-note", maxlength: "2000", autocomplete: "off", placeholder: "why" });
  const errors = { start: el("p", { class: "field-error", role: "alert", dataset: { for: "start" } }), end: el("p", { class: "field-error", role: "alert", dataset: { for: "end" } }) };
  const general = el("p", { class: "field-error", role: "alert", id: "backfill-error" });
  const found = el("div", { id: "backfill-found", "aria-live": "polite" });
  const check = el("button", { type: "submit", id: "backfill-check" }, "Show the runs");
  const send = el("button", { type: "button", class: "write", id: "backfill-send", disabled: true }, "Send");
  const close = el("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close");
  let checked = null; // the body the list on screen was found for

  const body = () => {
    const out = { start: fromLocalInput(start.value), end: fromLocalInput(end.value) };
    if (noteInput.value.trim()) out.note = noteInput.value.trim();
    return out;
  };
  const same = (a, b) => a && b && a.start === b.start && a.end === b.end;
  const stale = () => {
    if (!same(checked, body())) {
      send.disabled = true;
      send.textContent = "Send";
    }
  };
  for (const input of [start, end]) input.addEventListener("input", stale);

  function clearErrors() {
    general.textContent = "";
    for (const [key, node] of Object.entries(errors)) {
      node.textContent = "";
      (key === "start" ? start : end).removeAttribute("aria-invalid");
    }
  }

  function refuse(error) {
    const details = error instanceof ApiError ? error.fieldErrors : [];
    let placed = false;
    for (const d of details) {
      const field = (d.loc || []).find((part) => part === "start" || part === "end");
      if (field) {
        errors[field].textContent = plain(d.msg);
        (field === "start" ? start : end).setAttribute("aria-invalid", "true");
        placed = true;
      }
    }
    if (!placed) general.textContent = error.message;
  }

  async function post(dryRun) {
    const wanted = body();
    clearErrors();
    if (!wanted.start || !wanted.end) {
      if (!wanted.start) errors.start.textContent = "required";
      if (!wanted.end) errors.end.textContent = "required";
      return null;
    }
    try {
      return [wanted, await api(`/schedules/${page.config().id}/backfill`, { method: "POST", body: { ...wanted, dry_run: dryRun } })];
    } catch (error) {
      refuse(error);
      return null;
    }
  }

  dialog.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await post(true);
    if (!answer) {
      put(found);
      checked = null;
      stale();
      return;
    }
    const [wanted, out] = answer;
    checked = wanted;
    const ran = new Set((out.already_ran || []).map((at) => Date.parse(at)));
    const due = out.due_times || [];
    const didRun = (at) => ran.has(Date.parse(at));
    const toSend = (out.sent || []).length;
    put(found,
      el("p", { id: "backfill-summary" }, due.length
        ? `${due.length} due time${due.length === 1 ? "" : "s"} in the range: ${toSend} would be sent, ${ran.size} already ran.`
        : "No due time in this range."),
      due.length ? el("ol", { class: "list backfill-list", id: "backfill-list" }, due.map((at) =>
        el("li", { dataset: { due: at, ran: didRun(at) ? "yes" : "no" } }, time(at, page.zone()), " ",
          el("span", { class: didRun(at) ? "muted" : "ok" }, didRun(at) ? "already ran" : "would be sent")))) : null);
    send.disabled = toSend === 0;
    send.textContent = toSend ? `Send ${toSend} run${toSend === 1 ? "" : "s"}` : "Nothing to send";
  });

  send.addEventListener("click", async () => {
    if (!same(checked, body())) return;
    send.disabled = true;
    const answer = await post(false);
    if (!answer) return;
    const [, out] = answer;
    const sent = (out.sent || []).length;
    const ran = (out.already_ran || []).length;
    announce(`Backfill of ${page.config().name}: ${sent} run${sent === 1 ? "" : "s"} sent, ${ran} had already run.`);
    dialog.close();
    await onDone();
  });

  const heading = el("h2", { id: "h-backfill" }, "Backfill");
  put(dialog,
    el("form", { method: "dialog", novalidate: true },
      heading,
      el("p", { class: "hint" }, `The due times of this schedule in [from, until), until not in the future; times in this browser's zone (${browserZone()}), sent as UTC. Each due time runs at most once.`),
      el("div", { class: "row" },
        el("div", { class: "field" }, el("label", { for: "backfill-start" }, "From"), start, errors.start),
        el("div", { class: "field" }, el("label", { for: "backfill-end" }, "Until"), end, errors.end)),
      el("div", { class: "field" }, el("label", { for: "backfill-note" }, "Note"), noteInput),
      general, found,
      el("div", { class: "form-actions" }, check, send, close)));

  const open = () => {
    heading.textContent = `Backfill ${page.config().name}`;
    const now = Date.now();
    if (!start.value) start.value = localInput(new Date(now - 86_400_000).toISOString()).slice(0, 16) + ":00";
    if (!end.value) end.value = localInput(new Date(now).toISOString()).slice(0, 16) + ":00";
    if (!noteInput.value && note.value.trim()) noteInput.value = note.value.trim();
    clearErrors();
    put(found);
    checked = null;
    stale();
    dialog.showModal();
    start.focus();
  };
  return [el("button", { type: "button", class: "write secondary", id: "backfill-open", dataset: { keep: "backfill" }, onclick: open }, "Backfill…"), dialog];
}
