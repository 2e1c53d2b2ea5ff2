// The machine over the last hour: CPU, memory and GPU utilisation in % (left axis), the load multiplier that
// stretches learned timeouts (right axis). Points come from `server.resources` (one every 5 s, kept an hour).

import { fmtClock } from "./charts_common.js";
import { axis, palette, uPlot, widthOf } from "./charts_uplot.js";

export const HEIGHT = 260;
const SPAN = 3600;

// Samples [{t, cpu_percent, memory_percent, load_multiplier, gpus}] → uPlot columns and series options.
export function columns(samples) {
  const gpuCount = samples.reduce((n, s) => Math.max(n, Array.isArray(s.gpus) ? s.gpus.length : 0), 0);
  const data = [
    samples.map((s) => s.t),
    samples.map((s) => s.cpu_percent ?? null),
    samples.map((s) => s.memory_percent ?? null),
  ];
  for (let g = 0; g < gpuCount; g++) {
    data.push(samples.map((s) => (Array.isArray(s.gpus) && s.gpus[g] ? s.gpus[g].utilization ?? null : null)));
    data.push(samples.map((s) => (Array.isArray(s.gpus) && s.gpus[g] ? s.gpus[g].memory_percent ?? null : null)));
  }
  data.push(samples.map((s) => s.load_multiplier ?? null));
  return { data, gpuCount };
}

export function drawResources(container, samples, previous) {
  if (previous) previous.destroy();
  const colors = palette();
  const { data, gpuCount } = columns(samples);
  const few = samples.length < 3; // a line needs two points: show the points themselves at first
  const line = (label, color, scale, extra = {}) => ({
    label, stroke: color, width: 1.5, scale, spanGaps: false, points: { show: few, size: 5 },
    value: (u, v) => (v === null || v === undefined ? "—" : scale === "mult" ? `× ${v.toFixed(2)}` : `${v.toFixed(1)} %`),
    ...extra,
  });
  const series = [
    { label: "time", value: (u, v) => (v ? fmtClock(v) : "—") },
    line("CPU", colors.cpu, "%"),
    line("memory", colors.memory, "%"),
  ];
  for (let g = 0; g < gpuCount; g++) {
    const color = colors.gpu[g % colors.gpu.length];
    series.push(line(`GPU ${g}`, color, "%"));
    series.push(line(`GPU ${g} memory`, color, "%", { dash: [4, 3] }));
  }
  series.push(line("load multiplier", colors.load, "mult", { width: 2 }));
  const opts = {
    width: widthOf(container),
    height: HEIGHT,
    cursor: { drag: { x: true, y: false } },
    scales: {
      // One point at first: a minute either side of it rather than a zero-width axis.
      x: { time: true, range: (u, min, max) => (min === max || min === null ? [(min ?? Date.now() / 1000) - 60, (max ?? Date.now() / 1000) + 60] : [min, max]) },
      "%": { range: [0, 100] },
      // 1.0 up to the knee, capped at 3 (docs/timing.md): 0.9 to a little over the highest seen.
      mult: { range: (u) => [0.9, Math.ceil(Math.max(1.5, ...u.data[u.data.length - 1].filter((v) => v !== null)) * 1.1 * 10) / 10] },
    },
    axes: [
      axis(colors),
      axis(colors, { scale: "%", values: (u, splits) => splits.map((v) => `${v} %`), size: 50 }),
      axis(colors, { scale: "mult", side: 1, grid: { show: false }, values: (u, splits) => splits.map((v) => `×${v.toFixed(1)}`), size: 50 }),
    ],
    series,
  };
  const plot = new uPlot(opts, data, container);
  plot.gpuCount = gpuCount;
  return plot;
}
