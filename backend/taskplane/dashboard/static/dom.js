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

// the node's children become `children`; null, undefined and false are left out (the DOM's own
// append would print them as "null")
export function put(node, ...children) {
  node.replaceChildren();
  return fill(node, {}, children);
}

// `children` appended, with the same rule as put
export function add(node, ...children) {
  return fill(node, {}, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

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
let toastPage = null;
const pagePath = () => (location.hash.replace(/^#/, "") || "/").split("?")[0];

// a polite status line for the outcome of an action; it belongs to the page that raised it
// (or to `page`, where the action leads) and goes when another page opens
export function announce(text, bad = false, page = pagePath()) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = bad ? "toast bad" : "toast";
  toastPage = page;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(dropToast, 6000);
}

function dropToast() {
  const box = document.getElementById("toast");
  box.textContent = "";
  box.className = "toast";
  toastPage = null;
}

// called on every navigation: a toast raised on another page goes
export function keepToastOf(path) {
  if (toastPage !== null && toastPage !== path) dropToast();
}

// rebuild part of a page without losing the operator's place: open <details> (by
// data-keep), the focused control (by id or data-keep) and the scroll position survive
export async function keeping(root, rebuild) {
  const open = new Set([...root.querySelectorAll("details[data-keep][open]")].map((d) => d.dataset.keep));
  const active = document.activeElement;
  let focusKey = null;
  if (active && active !== document.body && root.contains(active)) {
    if (active.id) focusKey = `#${CSS.escape(active.id)}`;
    else if (active.dataset.keep) focusKey = `[data-keep="${CSS.escape(active.dataset.keep)}"]`;
  }
  const x = window.scrollX;
  const y = window.scrollY;
  await rebuild();
  for (const details of root.querySelectorAll("details[data-keep]")) details.open = open.has(details.dataset.keep);
  if (focusKey && !root.contains(document.activeElement)) {
    const again = root.querySelector(focusKey);
    if (again) again.focus({ preventScroll: true });
  }
  window.scrollTo(x, y);
}

// a list's items updated in place: `items` are [key, signature, build()]; an item whose key
// and signature did not change keeps its node (and the focus, selection, open state in it)
export function patch(parent, items) {
  const old = new Map([...parent.children].map((node) => [node.dataset.key, node]));
  const nodes = items.map(([key, signature, build]) => {
    const same = old.get(String(key));
    if (same && same.dataset.sig === signature) return same;
    const node = build();
    node.dataset.key = String(key);
    node.dataset.sig = signature;
    return node;
  });
  const unchangedOrder = nodes.length === parent.children.length && nodes.every((n, i) => parent.children[i] === n);
  if (unchangedOrder) return;
  // replace node by node where the order holds, so untouched nodes are never detached
  if (nodes.length === parent.children.length && nodes.every((n, i) => n.dataset.key === parent.children[i].dataset.key)) {
    nodes.forEach((n, i) => { if (parent.children[i] !== n) parent.children[i].replaceWith(n); });
    return;
  }
  parent.replaceChildren(...nodes);
}
