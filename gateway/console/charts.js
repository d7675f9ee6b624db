// Line charts as inline SVG: one figure per chart, its numbers also given as text (the
// figure's description) for screen readers.

import { h, svg } from "./dom.js";

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 40, right: 8, top: 8, bottom: 20 };
let charts = 0;

function scale(values, size, pad0, pad1, invert) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  return (v) => {
    const t = (v - low) / span;
    return invert ? size - pad1 - t * (size - pad0 - pad1) : pad0 + t * (size - pad0 - pad1);
  };
}

/**
 * series: [{name, points: [[epochSeconds, value], ...]}]; format(value) -> text.
 * Values that are null leave a gap.
 */
export function lineChart(title, series, format = String) {
  charts += 1;
  const titleId = `chart-${charts}-title`;
  const descId = `chart-${charts}-desc`;
  const all = series.flatMap((s) => s.points.filter(([, v]) => v !== null));
  const last = series.map((s) => {
    const known = s.points.filter(([, v]) => v !== null);
    return `${s.name}: ${known.length ? format(known[known.length - 1][1]) : "no data"}`;
  }).join("; ");
  const figure = h("figure", { class: "chart" }, h("figcaption", { id: titleId }, title));
  if (new Set(all.map(([t]) => t)).size < 2) {
    figure.append(h("p", { class: "empty" }, "Not enough samples yet."));
    return figure;
  }
  const times = all.map(([t]) => t);
  const values = [0, ...all.map(([, v]) => v)];
  if (Math.max(...values) === 0) values.push(1); // an all-zero chart still has a scale
  const x = scale(times, WIDTH, PAD.left, PAD.right, false);
  const y = scale(values, HEIGHT, PAD.top, PAD.bottom, true);
  const high = Math.max(...values);
  const lines = series.map((s, index) => {
    const runs = [[]];
    for (const [t, v] of s.points) {
      if (v === null) runs.push([]);
      else runs[runs.length - 1].push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    return runs.filter((run) => run.length).map((run) =>
      svg("polyline", { points: run.join(" "), class: `line line-${index % 6}` }));
  });
  const spanSeconds = Math.max(...times) - Math.min(...times);
  const span = spanSeconds < 90 ? `${Math.round(spanSeconds)} s` : `${Math.round(spanSeconds / 60)} min`;
  figure.append(
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": titleId,
      "aria-describedby": descId, preserveAspectRatio: "none" },
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
      svg("text", { x: PAD.left - 4, y: PAD.top + 8, class: "tick", "text-anchor": "end" },
        format(high)),
      svg("text", { x: PAD.left - 4, y: y(0), class: "tick", "text-anchor": "end" }, format(0)),
      svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, class: "tick", "text-anchor": "end" },
        `last ${span}`),
      lines),
    h("p", { id: descId, class: "legend" }, series.length > 1
      ? series.map((s, index) => h("span", { class: `key key-${index % 6}` }, s.name))
      : null, h("span", { class: "now" }, `Now: ${last}`)),
  );
  return figure;
}

/** Differences between consecutive cumulative samples (a counter's increase per interval). */
export function increases(points) {
  const out = [];
  for (let i = 1; i < points.length; i += 1) {
    const [t, v] = points[i];
    const before = points[i - 1][1];
    out.push([t, v === null || before === null ? null : Math.max(0, v - before)]);
  }
  return out;
}
