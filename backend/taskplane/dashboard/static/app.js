// taskplane dashboard: a static page that calls only the public API with a pasted token.
"use strict";

const API = "/api/v1";
const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem("taskplane-token") || "";
let taskTypes = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function say(text, bad = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = bad ? "bad" : "";
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) {
      detail = detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return data;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");

function scheduleText(config) {
  const s = config.schedule_config || {};
  switch (config.scheduler_type) {
    case "interval": return `every ${s.seconds || 0}s`;
    case "cron": return `cron ${s.cron_expression || "(fields)"}${s.timezone ? " " + s.timezone : ""}`;
    case "date": return `at ${when(s.run_date)}`;
    default: return "manual";
  }
}

async function loadHealth() {
  try {
    const response = await fetch(API + "/system/health");
    const body = await response.json();
    $("#health").textContent = `health: ${body.status}`;
    $("#health").className = `pill ${body.status}`;
  } catch (err) {
    $("#health").textContent = "health: unreachable";
    $("#health").className = "pill bad";
  }
}

async function loadSummary() {
  const board = await api("/system/dashboard");
  const schedules = board.schedules || {};
  const runs = board.executions_24h || {};
  const rate = runs.success_rate == null ? "-" : `${Math.round(runs.success_rate * 100)}%`;
  $("#summary").replaceChildren(
    ...["total", "active", "paused", "inactive", "error"].map((name) =>
      el("div", { class: `card ${name}` }, el("b", {}, String(schedules[name] ?? 0)), name)),
    el("div", { class: "card" }, el("b", {}, String(runs.total ?? 0)), "runs 24h"),
    el("div", { class: runs.failed ? "card bad" : "card" }, el("b", {}, String(runs.failed ?? 0)),
      "failed 24h"),
    el("div", { class: "card" }, el("b", {}, rate), "success 24h"),
  );
  $("#next-fires").replaceChildren(...(board.next_fires || []).map((f) =>
    el("li", {}, `${when(f.next_run_at)} - ${f.name} (#${f.config_id})`)));
}

function actionButton(config, action) {
  return el("button", {
    type: "button",
    onclick: async () => {
      try {
        if (action === "run") {
          const run = await api(`/configs/${config.id}/run`, { method: "POST" });
          say(`run of ${config.name} sent (task ${run.task_id})`);
        } else {
          let body;
          if (action === "pause") {
            const note = prompt(`pause ${config.name}: note (optional)`);
            if (note === null) return;
            body = note ? { note } : undefined;
          }
          const result = await api(`/schedules/${config.id}/${action}`, { method: "POST", body });
          say(`${config.name}: ${result.message || result.status}`);
        }
        await refresh();
      } catch (err) {
        say(err.message, true);
      }
    },
  }, action);
}

async function loadConfigs() {
  const page = await api("/configs?limit=200");
  const body = $("#configs tbody");
  body.replaceChildren(...page.items.map((c) => el("tr", {},
    el("td", {}, String(c.id)),
    el("td", { title: c.description || "" }, c.name),
    el("td", {}, c.task_type),
    el("td", {}, scheduleText(c)),
    el("td", { class: c.schedule_status }, c.schedule_status),
    el("td", {}, when(c.next_run_at)),
    el("td", { class: c.last_success === false ? "bad" : "" }, when(c.last_run_at)),
    el("td", {}, ...["start", "pause", "resume", "stop", "run"].map((a) => actionButton(c, a))),
  )));
}

async function loadExecutions() {
  const [recent, failed] = await Promise.all([
    api("/executions/recent?limit=15"), api("/executions/failed?limit=10"),
  ]);
  $("#recent tbody").replaceChildren(...recent.items.map((e) => el("tr", {},
    el("td", {}, String(e.config_id)), el("td", {}, e.trigger),
    el("td", { class: e.is_success ? "ok" : "bad" }, e.is_success ? "ok" : "failed"),
    el("td", {}, when(e.completed_at)),
    el("td", {}, e.duration_seconds == null ? "-" : e.duration_seconds.toFixed(3)))));
  $("#failed tbody").replaceChildren(...failed.items.map((e) => el("tr", {},
    el("td", {}, String(e.config_id)), el("td", {}, e.trigger),
    el("td", { class: "bad" }, (e.error_message || "").slice(0, 160)),
    el("td", {}, when(e.completed_at)))));
}

// --- create form, driven by GET /task-types parameters_schema ------------------------

function renderParameters() {
  const type = taskTypes.find((t) => t.name === $("#task-type").value);
  const box = $("#parameters");
  box.replaceChildren(el("legend", {}, "parameters"));
  if (!type) return;
  const schema = type.parameters_schema || {};
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const kind = prop.type || (prop.anyOf ? (prop.anyOf.find((x) => x.type !== "null") || {}).type : "");
    let input;
    if (kind === "boolean") {
      input = el("input", { type: "checkbox", "data-param": name, "data-kind": kind });
      if (prop.default === true) input.checked = true;
    } else {
      input = el("input", { "data-param": name, "data-kind": kind || "json",
        placeholder: prop.default !== undefined ? JSON.stringify(prop.default) : (kind || "json") });
      if (required.has(name)) input.required = true;
    }
    box.append(el("label", { title: prop.description || "" },
      `${name}${required.has(name) ? " *" : ""} `, input));
  }
}

function renderScheduleField() {
  const kind = $("#scheduler-type").value;
  const field = $("#schedule-field");
  const labels = { interval: ["every (seconds)", "60"], cron: ["cron expression", "*/5 * * * *"],
    date: ["run at (ISO time)", new Date(Date.now() + 3600e3).toISOString()] };
  if (kind === "manual") { field.hidden = true; return; }
  field.hidden = false;
  const [label, value] = labels[kind];
  field.replaceChildren(`${label} `, el("input", { name: "schedule_value", value }));
}

function readParameters() {
  const out = {};
  for (const input of document.querySelectorAll("#parameters [data-param]")) {
    const name = input.dataset.param;
    const kind = input.dataset.kind;
    if (kind === "boolean") { out[name] = input.checked; continue; }
    const raw = input.value.trim();
    if (raw === "") continue;
    if (kind === "string") out[name] = raw;
    else if (kind === "integer" || kind === "number") out[name] = Number(raw);
    else {
      try { out[name] = JSON.parse(raw); } catch { out[name] = raw; }
    }
  }
  return out;
}

async function createConfig(event) {
  event.preventDefault();
  // form.elements, not form.name: a form's own `name` property hides a field named "name"
  const field = (name) => event.target.elements.namedItem(name);
  const kind = field("scheduler_type").value;
  const value = field("schedule_value") ? field("schedule_value").value.trim() : "";
  const scheduleConfig = kind === "interval" ? { seconds: Number(value) }
    : kind === "cron" ? { cron_expression: value }
      : kind === "date" ? { run_date: value } : {};
  const body = { name: field("name").value.trim(), task_type: field("task_type").value,
    scheduler_type: kind, schedule_config: scheduleConfig, parameters: readParameters() };
  try {
    const autoStart = field("auto_start").checked && kind !== "manual";
    const created = await api(`/configs?auto_start=${autoStart}`, { method: "POST", body });
    say(`created ${created.name} (id ${created.id})`);
    field("name").value = "";
    await refresh();
  } catch (err) {
    say(err.message, true);
  }
}

async function loadTaskTypes() {
  const page = await api("/task-types?limit=500");
  taskTypes = page.items;
  $("#task-type").replaceChildren(...taskTypes.map((t) =>
    el("option", { value: t.name, title: t.description || "" }, t.name)));
  renderParameters();
}

async function refresh() {
  await loadHealth();
  if (!token) { say("paste a token (taskplane dev prints the admin token)"); return; }
  try {
    await Promise.all([loadSummary(), loadConfigs(), loadExecutions()]);
  } catch (err) {
    say(err.message, true);
  }
}

$("#token").value = token;
$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("taskplane-token", token);
  say("");
  try { await loadTaskTypes(); } catch (err) { say(err.message, true); }
  await refresh();
});
$("#refresh").addEventListener("click", refresh);
$("#task-type").addEventListener("change", renderParameters);
$("#scheduler-type").addEventListener("change", renderScheduleField);
$("#create-form").addEventListener("submit", createConfig);

renderScheduleField();
if (token) loadTaskTypes().catch((err) => say(err.message, true));
refresh();
setInterval(refresh, 5000);
