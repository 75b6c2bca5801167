// Create or edit a config. The parameters part is generated from the task type's JSON
// Schema; the schedule part (exclusions and jitter included) previews its description and
// next fires as you type; the alert settings sit beside the run settings; a 422 is shown
// beside the field its `loc` names.

import { ApiError, api } from "./api.js";
import { browserZone, localInput, time } from "./clock.js";
import { announce, debounce, el, put } from "./dom.js";
import { alertFields, alertsValue } from "./alerts.js";
import { FieldSet, choice, collect, num, readNumber, readText, schemaFields, text } from "./fields.js";
import { scheduleExtras } from "./schedule_extras.js";

const SCHEDULER_TYPES = ["interval", "cron", "date", "manual"];

function intervalSeconds(sc) {
  if (!sc) return 60;
  const total = (sc.seconds || 0) + (sc.minutes || 0) * 60 + (sc.hours || 0) * 3600 + (sc.days || 0) * 86400;
  return total || undefined;
}

function cronExpression(sc) {
  if (!sc) return "*/5 * * * *";
  if (sc.cron_expression) return sc.cron_expression;
  return ["minute", "hour", "day", "month", "day_of_week"].map((k) => sc[k] ?? "*").join(" ");
}

const equal = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

// edit: only what changed since the form opened (a fired date config is renamed without
// resending its past date)
function changes(body, initial) {
  const out = {};
  for (const [key, value] of Object.entries(body)) {
    if (value !== undefined && !equal(value, initial[key])) out[key] = value;
  }
  // a schedule is sent whole, with its kind, so the API validates them together
  if ("schedule_config" in out || "scheduler_type" in out) {
    out.scheduler_type = body.scheduler_type;
    out.schedule_config = body.schedule_config;
  }
  return out;
}

export async function renderConfigForm(root, id, query = new URLSearchParams()) {
  const from = Number(query.get("from")) || null;
  const [types, existing, source] = await Promise.all([
    api("/task-types?limit=500"),
    id ? api(`/configs/${id}`) : Promise.resolve(null),
    from ? api(`/configs/${from}`) : Promise.resolve(null),
  ]);
  const byName = new Map(types.items.map((t) => [t.name, t]));
  const fields = new FieldSet();
  // a new config starts empty: no task type chosen, not started, empty run settings (the
  // task type's own: the API fills them in and says so); a clone copies its source
  const c = existing || (source ? { ...source, name: `${source.name} (copy)` } : { name: "", description: "", task_type: "", scheduler_type: "interval",
    schedule_config: null, parameters: {}, max_retries: null, timeout_seconds: null, priority: null });

  const name = text(c.name, { maxlength: "128" });
  const description = el("textarea", { rows: "2", maxlength: "2000" });
  description.value = c.description || "";
  const taskType = el("select", {}, el("option", { value: "" }, "choose a task type…"), types.items.map((t) => el("option", { value: t.name }, t.name)));
  taskType.value = c.task_type;
  const schedulerType = el("select", {}, SCHEDULER_TYPES.map((t) => el("option", { value: t }, t)));
  schedulerType.value = c.scheduler_type;
  const maxRetries = num(c.max_retries);
  const timeout = num(c.timeout_seconds);
  const priority = num(c.priority);
  const autoStart = el("input", { type: "checkbox" });
  autoStart.checked = false;

  const typeHelp = el("p", { class: "hint", id: "task-type-help" });
  const paramsBox = el("fieldset", { class: "params" }, el("legend", {}, "Parameters"));
  const scheduleBox = el("div", { class: "schedule-fields" });
  const previewDescription = el("p", { id: "preview-description", class: "preview-description" });
  const previewRuns = el("ol", { id: "preview-runs", class: "preview-runs" });
  const preview = el("div", { class: "preview card", "aria-live": "polite", "aria-labelledby": "h-preview" },
    el("h3", { id: "h-preview" }, "Preview"), previewDescription, previewRuns);

  let lastParams = { ...(c.parameters || {}) };
  function buildParams() {
    const type = byName.get(taskType.value);
    if (type && paramsBox.dataset.type) lastParams = { ...lastParams, ...collect(fields, "parameters").values };
    fields.drop("parameters.");
    paramsBox.replaceChildren(el("legend", {}, taskType.value ? `Parameters of ${taskType.value}` : "Parameters"));
    paramsBox.dataset.type = taskType.value;
    typeHelp.textContent = type ? `${type.description || ""} (queue ${type.queue}, timeout ${type.default_timeout_seconds} s, retries ${type.default_max_retries})` : "";
    const nodes = type ? schemaFields(fields, type.parameters_schema, lastParams) : [];
    const empty = type ? "This task type takes no parameters." : "Choose a task type first.";
    paramsBox.append(...(nodes.length ? nodes : [el("p", { class: "muted" }, empty)]));
  }

  function buildSchedule(sc) {
    fields.drop("schedule_config.");
    const kind = schedulerType.value;
    const same = sc && kind === c.scheduler_type ? sc : null;
    const parts = [];
    if (kind === "interval") {
      const seconds = num(intervalSeconds(same));
      seconds.min = "1";
      parts.push(fields.add("schedule_config.seconds", "Every (seconds)", seconds, { required: true, read: readNumber(seconds) }));
      const immediately = el("input", { type: "checkbox" });
      immediately.checked = !same || same.run_immediately !== false;
      parts.push(fields.add("schedule_config.run_immediately", "Run once at once when started", immediately,
        { read: () => (immediately.checked ? undefined : false) }));
    } else if (kind === "cron") {
      const expr = text(cronExpression(same), { spellcheck: "false" });
      parts.push(fields.add("schedule_config.cron_expression", "Cron expression", expr,
        { required: true, hint: "minute hour day month day-of-week", read: readText(expr) }));
      const zone = text(same && same.timezone, { placeholder: "UTC" });
      parts.push(fields.add("schedule_config.timezone", "Time zone", zone, { hint: "an IANA name, e.g. Europe/Berlin", read: readText(zone) }));
      const missing = choice(["shift", "skip"], same && same.on_missing_time, "default (shift)");
      parts.push(fields.add("schedule_config.on_missing_time", "When clocks jump forward", missing, { read: readText(missing) }));
      const repeated = choice(["first", "both"], same && same.on_repeated_time, "default (first)");
      parts.push(fields.add("schedule_config.on_repeated_time", "When clocks fall back", repeated, { read: readText(repeated) }));
    } else if (kind === "date") {
      const at = el("input", { type: "datetime-local", step: "1" });
      const stored = same && same.run_date;
      at.value = localInput(stored);
      const shown = at.value; // untouched, the stored instant is sent as it was (sub-second part too)
      parts.push(fields.add("schedule_config.run_date", "Run at", at, { required: true, hint: `in this browser's zone (${browserZone()})`,
        read: () => (!at.value ? undefined : at.value === shown && stored ? stored : new Date(at.value).toISOString()) }));
    }
    if (kind === "cron" || kind === "interval") parts.push(scheduleExtras(fields, kind, same));
    if (kind !== "manual") {
      const misfire = choice(["once", "skip"], same && same.misfire, "default (once)");
      const grace = num(same && same.misfire_grace_seconds);
      const overlap = choice(["allow", "skip"], same && same.overlap, "default (allow)");
      parts.push(el("details", { class: "policies" }, el("summary", {}, "Policies"),
        fields.add("schedule_config.misfire", "A fire missed while no scheduler ran", misfire, { read: readText(misfire) }),
        fields.add("schedule_config.misfire_grace_seconds", "Misfire grace (seconds)", grace, { read: readNumber(grace) }),
        fields.add("schedule_config.overlap", "While the previous run is still running", overlap, { read: readText(overlap) })));
    } else {
      parts.push(el("p", { class: "muted" }, "Never scheduled: runs only when asked."));
    }
    scheduleBox.replaceChildren(...parts);
  }

  let previewSeq = 0;
  const runPreview = debounce(async () => {
    const mine = ++previewSeq;
    const { values, problems } = collect(fields, "schedule_config");
    fields.clearErrors("schedule_config.");
    fields.clearErrors("scheduler_type");
    if (problems.length) return fields.showErrors(problems);
    try {
      const out = await api("/schedules/preview", { method: "POST", body: { scheduler_type: schedulerType.value, schedule_config: values, count: 5 } });
      if (mine !== previewSeq) return;
      previewDescription.textContent = out.description;
      previewDescription.className = "preview-description";
      const zone = schedulerType.value === "cron" ? values.timezone || "UTC" : null;
      previewRuns.replaceChildren(...out.next_runs.map((at) => el("li", {}, time(at, zone))));
      if (!out.next_runs.length) previewRuns.append(el("li", { class: "muted" }, "no fires"));
    } catch (error) {
      if (mine !== previewSeq) return;
      previewDescription.textContent = "This schedule is not valid yet.";
      previewDescription.className = "preview-description failed";
      previewRuns.replaceChildren();
      if (error instanceof ApiError && error.status === 422) {
        // only the schedule part: the rest of the form is checked on save
        fields.showErrors(error.fieldErrors.filter((d) => (d.loc || []).includes("schedule_config") || (d.loc || []).includes("scheduler_type")));
      } else {
        previewDescription.textContent = error.message;
      }
    }
  }, 250);

  const form = el("form", { class: "config-form", novalidate: true, "aria-labelledby": "h-form" },
    el("h1", { id: "h-form" }, existing ? `Edit ${existing.name}` : source ? `Clone ${source.name}` : "New config"),
    fields.general,
    el("fieldset", {}, el("legend", {}, "Config"),
      fields.add("name", "Name", name, { required: true }),
      fields.add("description", "Description", description, { read: () => (description.value.trim() === "" ? undefined : description.value) }),
      fields.add("task_type", "Task type", taskType, { required: true }),
      typeHelp),
    el("fieldset", { class: "schedule" }, el("legend", {}, "Schedule"),
      el("div", { class: "schedule-grid" },
        el("div", {}, fields.add("scheduler_type", "Kind", schedulerType, { required: true }), scheduleBox),
        preview)),
    paramsBox,
    el("fieldset", {}, el("legend", {}, "Execution"),
      el("div", { class: "row" },
        fields.add("max_retries", "Max retries", maxRetries, { hint: "0..20; empty: the task type's default", read: readNumber(maxRetries) }),
        fields.add("timeout_seconds", "Timeout (seconds)", timeout, { hint: "empty: the task type's default", read: () => (timeout.value.trim() === "" ? null : Number(timeout.value)) }),
        fields.add("priority", "Priority", priority, { hint: "0..9; empty: the task type's default", read: readNumber(priority) }))),
    // a server without alerts (an older one) shows no `alerts` on a config: nothing to edit
    !existing || "alerts" in existing ? alertFields(fields, c.alerts) : null,
    existing ? null : fields.add("auto_start", "Start the schedule once created", autoStart, { read: () => undefined }),
    el("div", { class: "form-actions" },
      el("button", { type: "submit", class: "write" }, existing ? "Save" : "Create"),
      el("a", { href: existing ? `#/configs/${existing.id}` : "#/configs", class: "button secondary" }, "Cancel")),
  );

  // what the form would send now; problems: fields that cannot be read (bad JSON)
  function current() {
    const params = collect(fields, "parameters");
    const schedule = collect(fields, "schedule_config");
    const body = {
      name: name.value,
      // empty: omitted on create, cleared (null) on edit
      description: fields.fields.get("description").read() ?? (existing && existing.description ? null : undefined),
      task_type: taskType.value,
      scheduler_type: schedulerType.value,
      schedule_config: schedule.values,
      parameters: params.values,
    };
    for (const key of ["max_retries", "timeout_seconds", "priority"]) {
      const value = fields.fields.get(key).read();
      if (value !== undefined) body[key] = value;
    }
    const alerts = collect(fields, "alerts");
    const wanted = alertsValue(alerts.values, Boolean(existing && existing.alerts));
    if (wanted !== undefined) body.alerts = wanted;
    return { body, problems: [...params.problems, ...schedule.problems, ...alerts.problems] };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fields.clearErrors();
    const { body, problems } = current();
    if (problems.length) {
      const first = fields.showErrors(problems);
      if (first) first.focus();
      return;
    }
    if (!taskType.value) {
      fields.error("task_type", "choose a task type");
      taskType.focus();
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const saved = existing
        ? await api(`/configs/${existing.id}`, { method: "PATCH", body: changes(body, initial) })
        : await api(`/configs?auto_start=${autoStart.checked && schedulerType.value !== "manual"}`, { method: "POST", body });
      announce(existing ? `Saved ${saved.name}.` : `Created ${saved.name}.`, false, `/configs/${saved.id}`);
      location.hash = `#/configs/${saved.id}`;
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.fieldErrors.length) {
        const first = fields.showErrors(error.fieldErrors);
        if (first) first.focus();
      } else if (error instanceof ApiError && error.status === 409) {
        fields.error("name", error.message);
        name.focus();
      } else {
        fields.general.replaceChildren(el("li", {}, error.message));
      }
      announce("Not saved: see the messages beside the fields.", true);
    } finally {
      submit.disabled = false;
    }
  });

  taskType.addEventListener("change", buildParams);
  schedulerType.addEventListener("change", () => { buildSchedule(null); runPreview(); });
  scheduleBox.addEventListener("input", runPreview);
  scheduleBox.addEventListener("change", runPreview);

  buildParams();
  buildSchedule(c.schedule_config);
  const initial = current().body; // an edit sends only what differs from the form as opened
  put(root,
    el("p", { class: "crumbs" }, el("a", { href: "#/configs" }, "Configs"), " / ", existing ? existing.name : "new"),
    form,
  );
  runPreview();
  name.dataset.autofocus = "";
  return null;
}
