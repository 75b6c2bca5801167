// Form fields with an error slot each, keyed by the API's `loc` (without "body"), so a 422
// lands beside the field it names; and the parameters part generated from a JSON Schema.

import { when } from "./clock.js";
import { el } from "./dom.js";

let counter = 0;

// the form's controls, filled with a stored value (none: empty)
export function num(value) {
  const input = el("input", { type: "number", step: "1", inputmode: "numeric" });
  if (value !== undefined && value !== null) input.value = String(value);
  return input;
}

export function text(value, attrs = {}) {
  const input = el("input", { type: "text", autocomplete: "off", ...attrs });
  if (value !== undefined && value !== null) input.value = String(value);
  return input;
}

export function choice(options, value, blank) {
  const input = el("select", {}, el("option", { value: "" }, blank), options.map((o) => el("option", { value: o }, o)));
  input.value = value || "";
  return input;
}

// what a control sends: empty is undefined (omitted)
export const readNumber = (input) => () => (input.value.trim() === "" ? undefined : Number(input.value));
export const readText = (input) => () => (input.value.trim() === "" ? undefined : input.value.trim());

export class FieldSet {
  constructor() {
    this.fields = new Map(); // "parameters.message" -> {input, error, read}
    this.general = el("ul", { class: "form-errors", role: "alert" });
  }

  // a labelled control with its error line; `read()` returns the value to send (undefined: omit)
  add(key, label, input, { hint, required, read } = {}) {
    const id = `f${++counter}`;
    input.id = id;
    input.setAttribute("name", key);
    const error = el("p", { class: "field-error", id: `${id}-error`, role: "alert", dataset: { for: key } });
    const described = [`${id}-error`];
    let hintNode = null;
    if (hint) {
      hintNode = el("p", { class: "hint", id: `${id}-hint` }, hint);
      described.push(`${id}-hint`);
    }
    input.setAttribute("aria-describedby", described.join(" "));
    if (required) input.setAttribute("aria-required", "true");
    const isCheck = input.type === "checkbox";
    const labelNode = el("label", { for: id }, label, required ? el("span", { class: "required", "aria-hidden": "true" }, " *") : null);
    const wrap = el(
      "div",
      { class: isCheck ? "field check" : "field", dataset: { field: key } },
      isCheck ? [input, labelNode] : [labelNode, input],
      hintNode,
      error,
    );
    this.fields.set(key, { input, error, read: read || (() => input.value) });
    return wrap;
  }

  drop(prefix) {
    for (const key of [...this.fields.keys()]) if (key.startsWith(prefix)) this.fields.delete(key);
  }

  clearErrors(prefix = "") {
    for (const [key, { input, error }] of this.fields) {
      if (!key.startsWith(prefix)) continue;
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
    if (!prefix) this.general.replaceChildren();
  }

  // show each {loc, msg} beside its field (the deepest known prefix of loc); the rest above
  showErrors(details, prefix = []) {
    let first = null;
    for (const detail of details) {
      const loc = (detail.loc || []).filter((part) => part !== "body").map(String);
      let field = null;
      for (let n = loc.length; n > 0 && !field; n--) {
        field = this.fields.get([...prefix, ...loc.slice(0, n)].join("."))
          || this.fields.get(loc.slice(0, n).join("."));
      }
      const msg = plain(detail.msg);
      if (field) {
        field.error.textContent = field.error.textContent
          ? `${field.error.textContent}; ${msg}`
          : msg;
        field.input.setAttribute("aria-invalid", "true");
        first = first || field.input;
      } else {
        this.general.append(el("li", {}, loc.length ? `${loc.join(".")}: ${msg}` : msg));
      }
    }
    return first;
  }

  error(key, message) {
    this.showErrors([{ loc: key.split("."), msg: message }]);
  }
}

// pydantic's wording in plain words: "Input should be greater than or equal to 1" -> "must be
// at least 1", "Field required" -> "required"; a message it does not know is kept as it is
const PLAIN = [
  [/^Value error, /, ""],
  [/^Field required$/, "required"],
  [/^Input should be greater than or equal to (.+)$/, "must be at least $1"],
  [/^Input should be less than or equal to (.+)$/, "must be at most $1"],
  [/^Input should be greater than (.+)$/, "must be more than $1"],
  [/^Input should be less than (.+)$/, "must be less than $1"],
  [/^Input should be a valid integer.*$/, "must be a whole number"],
  [/^Input should be a valid number.*$/, "must be a number"],
  [/^Input should be a valid boolean.*$/, "must be yes or no"],
  [/^Input should be a valid (string|dictionary|list|array).*$/, "has the wrong kind of value"],
  [/^Input should be (.+)$/, "must be $1"],
  [/^String should have at least (\d+) characters?$/, "needs at least $1 characters"],
  [/^String should have at most (\d+) characters?$/, "takes at most $1 characters"],
  [/^Extra inputs are not permitted$/, "is not a known setting"],
];

export function plain(msg) {
  let text = String(msg || "");
  for (const [pattern, replacement] of PLAIN) text = text.replace(pattern, replacement);
  // a time the API quotes is shown as every other time is
  return text.replace(/\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?/g, (iso) => when(iso));
}

function resolve(schema, root) {
  let node = schema || {};
  for (let guard = 0; node.$ref && guard < 10; guard++) {
    const name = node.$ref.split("/").pop();
    node = { ...((root.$defs || root.definitions || {})[name] || {}), ...node, $ref: undefined };
  }
  // Optional[X] is anyOf [X, null]: the form shows X and sends nothing when it is empty
  const options = node.anyOf || node.oneOf;
  if (options) {
    const real = options.filter((o) => o.type !== "null");
    if (real.length === 1) return { ...resolve(real[0], root), title: node.title, default: node.default, description: node.description };
  }
  return node;
}

function number(value) {
  return value === undefined ? undefined : String(value);
}

// inputs for each property of an object schema, added to `fields` under "parameters.<name>"
export function schemaFields(fields, schema, values = {}) {
  const root = schema || {};
  const required = new Set(root.required || []);
  const nodes = [];
  for (const [name, raw] of Object.entries(root.properties || {})) {
    const prop = resolve(raw, root);
    const key = `parameters.${name}`;
    const isRequired = required.has(name);
    const current = name in values ? values[name] : undefined;
    const label = prop.title || name;
    const hint = prop.description;
    let input;
    let read;
    if (Array.isArray(prop.enum)) {
      input = el("select", {}, isRequired ? null : el("option", { value: "" }, prop.default !== undefined ? `default (${prop.default})` : "—"),
        prop.enum.map((option) => el("option", { value: JSON.stringify(option) }, String(option))));
      const chosen = current !== undefined ? current : isRequired ? prop.default : undefined;
      if (chosen !== undefined) input.value = JSON.stringify(chosen);
      read = () => (input.value === "" ? undefined : JSON.parse(input.value));
    } else if (prop.type === "boolean") {
      input = el("input", { type: "checkbox" });
      input.checked = current !== undefined ? Boolean(current) : Boolean(prop.default);
      read = () => input.checked;
    } else if (prop.type === "integer" || prop.type === "number") {
      input = el("input", {
        type: "number",
        step: prop.type === "integer" ? "1" : "any",
        min: number(prop.minimum ?? prop.exclusiveMinimum),
        max: number(prop.maximum ?? prop.exclusiveMaximum),
        placeholder: prop.default !== undefined ? `default ${prop.default}` : undefined,
        inputmode: prop.type === "integer" ? "numeric" : "decimal",
      });
      if (current !== undefined && current !== null) input.value = String(current);
      read = () => (input.value.trim() === "" ? undefined : Number(input.value));
    } else if (prop.type === "string") {
      input = el("input", {
        type: "text",
        maxlength: number(prop.maxLength),
        placeholder: prop.default !== undefined ? `default ${prop.default}` : undefined,
        autocomplete: "off",
      });
      if (current !== undefined && current !== null) input.value = String(current);
      read = () => (input.value === "" ? undefined : input.value);
    } else {
      // objects, arrays and "any": edited as JSON
      input = el("textarea", { rows: "3", class: "code", spellcheck: "false",
        placeholder: prop.default !== undefined ? `default ${JSON.stringify(prop.default)}` : "JSON" });
      if (current !== undefined) input.value = JSON.stringify(current, null, 2);
      read = () => {
        if (input.value.trim() === "") return undefined;
        try {
          return JSON.parse(input.value);
        } catch {
          throw new FieldError(key, "not valid JSON");
        }
      };
    }
    nodes.push(fields.add(key, label, input, { hint: hint || (input.tagName === "TEXTAREA" ? "JSON" : undefined), required: isRequired, read }));
  }
  return nodes;
}

export class FieldError extends Error {
  constructor(key, message) {
    super(message);
    this.key = key;
  }
}

// `value` at `path` in `target`, the objects on the way made as needed: the field
// "schedule_config.exclude.holidays.country" is sent as {exclude: {holidays: {country}}}
function place(target, path, value) {
  let node = target;
  for (const part of path.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  node[path[path.length - 1]] = value;
}

// the values of every field under `prefix.` as an object (omitted: undefined); a dotted key
// below the prefix makes a nested object
export function collect(fields, prefix) {
  const out = {};
  const problems = [];
  for (const [key, field] of fields.fields) {
    if (!key.startsWith(`${prefix}.`)) continue;
    try {
      const value = field.read();
      if (value !== undefined) place(out, key.slice(prefix.length + 1).split("."), value);
    } catch (error) {
      if (error instanceof FieldError) problems.push({ loc: key.split("."), msg: error.message });
      else throw error;
    }
  }
  return { values: out, problems };
}
