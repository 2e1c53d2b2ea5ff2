// The duration histogram of a command class, with its learned timeout and p50/p95 drawn on it.
// Log-scaled: durations of milliseconds and a 600 s floor must fit one axis, and runtimes spread multiplicatively.

import { fmtSeconds } from "./charts_common.js";
import { axis, palette, uPlot, verticalMarks, widthOf } from "./charts_uplot.js";

const MIN_DURATION = 0.001; // a log axis has no zero: quicker runs are drawn at 1 ms
const HEIGHT = 280;

// Completed runs are durations; timed-out and cancelled ones only lower bounds (docs/timing.md); failed and lost
// ones teach the estimator nothing. Each gets its own colour.
export function statusClass(status) {
  if (status === "completed") return "completed";
  if (status === "timed_out" || status === "timeout" || status === "cancelled") return "stopped";
  return "failed";
}

// Log-spaced bins over the runs' durations → {centers, completed, stopped, failed, lo, hi}.
export function binRuns(runs) {
  const durations = runs.map((r) => Math.max(MIN_DURATION, Number(r.duration) || 0));
  if (!durations.length) return null;
  let lo = Math.min(...durations);
  let hi = Math.max(...durations);
  if (hi / lo < 1.5) {
    lo /= 1.25;
    hi *= 1.25;
  }
  const count = Math.min(40, Math.max(8, Math.ceil(Math.sqrt(durations.length) * 2)));
  const ratio = Math.log(hi / lo);
  const centers = [];
  for (let i = 0; i < count; i++) centers.push(lo * Math.exp((ratio * (i + 0.5)) / count));
  const bins = { completed: new Array(count).fill(0), stopped: new Array(count).fill(0), failed: new Array(count).fill(0) };
  runs.forEach((run, i) => {
    const d = durations[i];
    const index = Math.min(count - 1, Math.max(0, Math.floor((Math.log(d / lo) / ratio) * count)));
    bins[statusClass(run.status)][index] += 1;
  });
  return { centers, ...bins, lo, hi };
}

// Draw (or redraw) into container. est: the estimate answer; runs: history records of the class.
export function drawHistogram(container, runs, est, previous) {
  if (previous) previous.destroy();
  const colors = palette();
  const binned = binRuns(runs);
  if (!binned) return null;
  const timeout = est && Number(est.timeout);
  const marks = [];
  if (est && est.p50) marks.push({ x: est.p50, label: `p50 ${fmtSeconds(est.p50)}`, color: colors.mark, dash: [4, 3] });
  if (est && est.p95) marks.push({ x: est.p95, label: `p95 ${fmtSeconds(est.p95)}`, color: colors.mark, dash: [2, 2] });
  if (timeout) {
    const source = est.timeout_source ? ` (${est.timeout_source})` : "";
    marks.push({ x: timeout, label: `timeout ${fmtSeconds(timeout)}${source}`, color: colors.timeout, width: 2 });
    if (est.extension) {
      marks.push({ x: timeout + est.extension, label: `+ extension ${fmtSeconds(est.extension)}`, color: colors.timeout, dash: [6, 4] });
    }
  }
  const xs = marks.map((m) => m.x).filter((x) => x > 0);
  const xMin = Math.min(binned.lo, ...xs) / 1.3;
  const xMax = Math.max(binned.hi, ...xs) * 1.3;
  // Stacked by hand: the total first, then completed + stopped, then completed, each painted over the last.
  const total = binned.centers.map((_, i) => binned.completed[i] + binned.stopped[i] + binned.failed[i]);
  const lower = binned.centers.map((_, i) => binned.completed[i] + binned.stopped[i]);
  const yMax = Math.max(1, ...total);
  const bars = uPlot.paths.bars({ size: [0.92, 80], align: 0 });
  const series = (label, color) => ({ label, fill: color, stroke: color, width: 0, paths: bars, points: { show: false } });
  const opts = {
    width: widthOf(container),
    height: HEIGHT,
    legend: { show: false }, // values are stacked; our own legend below the chart says what each colour is
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: false, distr: 3, log: 10, range: () => [xMin, xMax] },
      y: { range: () => [0, Math.ceil(yMax * 1.15) + 0.5] },
    },
    axes: [
      // x: label the powers of ten only (the minor ticks in between stay unlabelled)
      axis(colors, { values: (u, splits) => splits.map((v) => (v && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? fmtSeconds(v) : "")), space: 60, label: "duration (log scale)", labelSize: 18 }),
      axis(colors, { values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")), label: "runs", labelSize: 18, size: 40 }),
    ],
    series: [{}, series("failed or lost", colors.failed), series("timed out or cancelled (lower bound)", colors.stopped), series("completed", colors.completed)],
    hooks: { draw: [verticalMarks(() => marks)] },
  };
  return new uPlot(opts, [binned.centers, total, lower, binned.completed], container);
}
