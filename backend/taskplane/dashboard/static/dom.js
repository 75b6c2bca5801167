// The one element builder, and the formatting every view shares. API data only ever reaches
// the page as text nodes or attribute values: nothing here parses HTML.

// the SVG namespace name (an identifier, never fetched), spelled so no URL appears in the source
const SVG_NS = ["http:", "", "www.w3.org", "2000", "svg"].join("/");

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  return fill(node, attrs, children);
}

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

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

export function time(iso) {
  // a <time> element: the local time as text, the exact instant in its attribute and title
  if (!iso) return el("span", { class: "muted" }, "—");
  return el("time", { datetime: iso, title: iso }, when(iso));
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "0 ms";
  if (value < 1) return `${Number((value * 1000).toPrecision(2))} ms`;
  if (value < 120) return `${value.toFixed(value < 10 ? 2 : 1)} s`;
  return `${(value / 60).toFixed(1)} min`;
}

export function percent(fraction) {
  return fraction === null || fraction === undefined ? "—" : `${(fraction * 100).toFixed(1)} %`;
}

export function badge(status) {
  return el("span", { class: `badge badge-${status}` }, status);
}

export function outcome(isSuccess) {
  if (isSuccess === null || isSuccess === undefined) return el("span", { class: "muted" }, "—");
  return el("span", { class: isSuccess ? "ok" : "failed" }, isSuccess ? "ok" : "failed");
}

export function json(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

let announceTimer = null;
export function announce(text, bad = false) {
  // a polite status line for the outcome of an action
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = bad ? "toast bad" : "toast";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { box.textContent = ""; box.className = "toast"; }, 6000);
}
