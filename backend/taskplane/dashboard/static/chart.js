// Two small SVG charts, drawn here (no library): stacked bars of runs per hour (ok / failed)
// and bars of execution durations coloured by outcome. Sizes are in viewBox units, so the
// charts scale with their container; colours come from style.css classes.

import { hourLabel, when } from "./clock.js";
import { el, svg, seconds } from "./dom.js";

const W = 720;
const H = 170;
const PAD = { left: 40, right: 8, top: 10, bottom: 24 };

function frame(label, children) {
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label },
    svg("title", {}, label),
    svg("line", { class: "axis", x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }),
    children,
  );
}

function yTicks(max, format) {
  const ticks = [];
  for (const fraction of [0, 0.5, 1]) {
    const y = H - PAD.bottom - fraction * (H - PAD.top - PAD.bottom);
    ticks.push(
      svg("line", { class: "grid", x1: PAD.left, y1: y, x2: W - PAD.right, y2: y }),
      svg("text", { class: "tick", x: PAD.left - 4, y: y + 4, "text-anchor": "end" }, format(max * fraction)),
    );
  }
  return ticks;
}

// a histogram of GET /executions/histogram: {total, buckets: [{start, ok, failed}]}
export function runsPerHour(histogram) {
  const buckets = histogram.buckets;
  const highest = Math.max(...buckets.map((b) => b.ok + b.failed));
  const max = Math.max(2, highest + (highest % 2)); // even, so the middle tick is a whole run
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / buckets.length;
  const bars = buckets.map((b, i) => {
    const x = PAD.left + i * step + 1;
    const okH = (b.ok / max) * plotH;
    const failedH = (b.failed / max) * plotH;
    const hour = hourLabel(new Date(b.start).getTime());
    const label = `${when(b.start)} — ${b.ok} ok, ${b.failed} failed`;
    return svg(
      "g",
      { class: "bar", dataset: { ok: b.ok, failed: b.failed } },
      svg("title", {}, label),
      svg("rect", { class: "ok-fill", x, y: H - PAD.bottom - okH, width: step - 2, height: okH }),
      svg("rect", { class: "failed-fill", x, y: H - PAD.bottom - okH - failedH, width: step - 2, height: failedH }),
      i % 3 === 0
        ? svg("text", { class: "tick", x: x + step / 2, y: H - 8, "text-anchor": "middle" }, hour)
        : null,
    );
  });
  const total = histogram.total;
  return el(
    "figure",
    { class: "figure" },
    frame(`runs per hour over the last 24 hours: ${total} in all (${when(histogram.since)} to ${when(histogram.until)})`, [yTicks(max, (v) => String(Math.round(v))), bars]),
    legend(),
  );
}

// executions newest first; drawn oldest to newest, bar height = duration
export function durations(executions) {
  const runs = [...executions].reverse();
  const max = Math.max(0.001, ...runs.map((e) => e.duration_seconds || 0));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(runs.length, 20);
  const bars = runs.map((e, i) => {
    const h = Math.max(1.5, ((e.duration_seconds || 0) / max) * plotH);
    const x = PAD.left + i * step + 1;
    return svg(
      "rect",
      { class: e.is_success ? "ok-fill" : "failed-fill", x, y: H - PAD.bottom - h, width: Math.max(1, step - 2), height: h },
      svg("title", {}, `#${e.id} ${when(e.completed_at)}: ${e.is_success ? "ok" : "failed"}, ${seconds(e.duration_seconds)}`),
    );
  });
  return el(
    "figure",
    { class: "figure" },
    frame(`durations and outcomes of the last ${runs.length} executions`, [yTicks(max, (v) => seconds(v)), bars]),
    legend(),
  );
}

function legend() {
  return el(
    "figcaption",
    { class: "legend" },
    el("span", { class: "key ok-key" }), " ok ",
    el("span", { class: "key failed-key" }), " failed",
  );
}
