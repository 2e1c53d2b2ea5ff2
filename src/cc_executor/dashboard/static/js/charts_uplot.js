// uPlot, loaded as the ES module its package ships (vendor/uplot, pinned by scripts/vendor-dashboard*.sh), and
// the bits both charts share: sizing to the container, vertical marker lines, colours.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { cssColor } from "./charts_common.js";

export { uPlot };

export const palette = () => ({
  text: cssColor("--chart-text", "#c9d1d9"),
  grid: cssColor("--chart-grid", "rgba(140,150,160,0.25)"),
  completed: cssColor("--chart-completed", "#3fb950"),
  stopped: cssColor("--chart-stopped", "#d29922"),
  failed: cssColor("--chart-failed", "#f85149"),
  timeout: cssColor("--chart-timeout", "#ff7b72"),
  mark: cssColor("--chart-mark", "#a5d6ff"),
  cpu: cssColor("--chart-cpu", "#58a6ff"),
  memory: cssColor("--chart-memory", "#bc8cff"),
  load: cssColor("--chart-load", "#f0883e"),
  gpu: [cssColor("--chart-gpu", "#3fb950"), "#56d364", "#2ea043", "#7ee787"],
});

// Width of the chart: its container's, at least 320 px.
export function widthOf(container) {
  return Math.max(320, Math.floor(container.getBoundingClientRect().width || container.clientWidth || 640));
}

// Keep a plot as wide as its container. Returns a stop function.
export function followWidth(container, getPlot, height) {
  if (typeof ResizeObserver === "undefined") return () => {};
  let last = 0;
  const observer = new ResizeObserver(() => {
    const plot = getPlot();
    const width = widthOf(container);
    if (plot && width !== last) {
      last = width;
      plot.setSize({ width, height });
    }
  });
  observer.observe(container);
  return () => observer.disconnect();
}

// A uPlot draw hook painting vertical lines at x values: marks() → [{x, label, color, dash}].
export function verticalMarks(marks) {
  return (u) => {
    const ctx = u.ctx;
    const ratio = uPlot.pxRatio || 1;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.font = `${Math.round(11 * ratio)}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    let row = 0;
    for (const mark of marks()) {
      if (mark.x === null || mark.x === undefined || !Number.isFinite(mark.x)) continue;
      const x = Math.round(u.valToPos(mark.x, "x", true));
      if (x < left - 1 || x > left + width + 1) continue;
      ctx.strokeStyle = mark.color;
      ctx.fillStyle = mark.color;
      ctx.lineWidth = (mark.width || 1.5) * ratio;
      ctx.setLineDash((mark.dash || []).map((d) => d * ratio));
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      // Labels stack downwards so close marks (p50, p95) stay readable; right-aligned near the right edge.
      const textWidth = ctx.measureText(mark.label).width;
      const tx = x + 4 * ratio + textWidth > left + width ? x - 4 * ratio - textWidth : x + 4 * ratio;
      ctx.fillText(mark.label, tx, top + (4 + row * 14) * ratio);
      row += 1;
    }
    ctx.restore();
  };
}

// Axis styling shared by both charts.
export function axis(colors, extra = {}) {
  return {
    stroke: colors.text,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1 },
    ...extra,
  };
}
