// Health view (#/health): the server's /health numbers, CPU / memory / GPU and the load multiplier over the
// last hour (`server.resources`, pulled every 5 s: a time series the server keeps, nothing to push), concurrency
// groups, held usage windows, and task lists with their progress (jobs.watch + jobs.changed).

import { clear, el, errorList, fetchHealth, fmtAgo, fmtClock, fmtSeconds, jobFeed, jobLink, pct, throttle } from "./charts_common.js";
import { HEIGHT, columns, drawResources } from "./health_chart.js";
import { followWidth } from "./charts_uplot.js";
import { renderTaskLists } from "./health_tasks.js";

const REFRESH_MS = 5000;
const SPAN = 3600;

function isMethodMissing(err) {
  return err && (err.code === -32601 || /method not found/i.test(String(err.message)));
}

export function mount(root, ctx) {
  const rpc = ctx.rpc;
  let alive = true;
  let samples = [];
  let plot = null;
  let plotShape = "";
  let seriesMissing = false; // an older server without server.resources: build the series from /health here

  const { box: errorBox, set: setError } = errorList();
  const status = el("dl", { id: "health-status", class: "health-cards" });
  const chart = el("div", { id: "health-chart", class: "chart", role: "img", "aria-label": "CPU, memory, GPU and load multiplier over the last hour" });
  const chartNote = el("p", { class: "hint", id: "health-chart-note" });
  const groups = el("div", { id: "health-groups" });
  const windows = el("div", { id: "health-windows" });
  const tasks = el("div", { id: "health-tasks" });
  const view = el("div", { id: "health", class: "view view-health" },
    el("h2", {}, "Health"), errorBox, status,
    el("h3", {}, "The last hour"), chart, chartNote,
    el("div", { class: "health-columns" },
      el("section", {}, el("h3", {}, "Concurrency groups"), groups),
      el("section", {}, el("h3", {}, "Usage windows"), windows)),
    el("h3", {}, "Task lists"), tasks);
  clear(root);
  root.append(view);


  // -- /health ----------------------------------------------------------------------------------------

  function card(term, value, field) {
    return [el("dt", {}, term), el("dd", { dataset: { field } }, value)];
  }

  function renderHealth(h) {
    const res = h.resources || {};
    const hist = h.history || {};
    clear(status);
    const historyText = hist.healthy === false
      ? `${h.history_backend || hist.backend || "?"}: DOWN since ${fmtClock(hist.down_since)}${hist.last_error ? ` (${hist.last_error})` : ""}; retry in ${fmtSeconds(hist.retry_in)}`
      : `${h.history_backend || hist.backend || "?"}: healthy${hist.dropped_records ? `, ${hist.dropped_records} record(s) dropped` : ""}`;
    const gpus = Array.isArray(res.gpu) && res.gpu.length
      ? res.gpu.map((g) => `GPU ${g.index ?? "?"}: ${pct(g.util_percent)}${g.mem_total ? `, memory ${pct((g.mem_used / g.mem_total) * 100)}` : ""}`).join("; ")
      : res.gpu_note || "none";
    status.append(
      ...card("Status", h.status || "?", "status"),
      ...card("Version", h.version || "?", "version"),
      ...card("Up", fmtSeconds(h.uptime_seconds), "uptime"),
      ...card("Running jobs", String(h.running_jobs ?? "?"), "running_jobs"),
      ...card("Live jobs", String(h.live_jobs ?? "?"), "live_jobs"),
      ...card("Jobs started", String(h.jobs_started ?? "?"), "jobs_started"),
      ...card("Sessions", `${h.active_sessions ?? "?"} of ${h.max_sessions ?? "?"}`, "sessions"),
      ...card("History", historyText, "history"),
      ...card("CPU", `${pct(res.cpu_percent)}${res.cpu_count ? ` of ${res.cpu_count} cores` : ""}`, "cpu"),
      ...card("Memory", pct(res.memory_percent), "memory"),
      ...card("Load average", Array.isArray(res.load_avg) ? res.load_avg.map((v) => Number(v).toFixed(2)).join(" ") : "—", "load_avg"),
      ...card("Load multiplier", res.multiplier ? `× ${Number(res.multiplier).toFixed(2)}` : "—", "multiplier"),
      ...card("GPU", gpus, "gpu"),
    );
    status.dataset.status = h.status || "";

    clear(groups);
    const entries = Object.entries(h.groups || {});
    if (!entries.length) groups.append(el("p", { class: "hint" }, "No concurrency groups."));
    else {
      const tbody = el("tbody");
      for (const [name, g] of entries) {
        tbody.append(el("tr", { dataset: { group: name } },
          el("td", {}, name), el("td", { class: "num" }, String(g.running ?? 0)), el("td", { class: "num" }, String(g.queued ?? 0)),
          el("td", { class: "num" }, g.limit === null || g.limit === undefined ? "∞" : String(g.limit)),
          el("td", {}, g.paused ? "paused" : "")));
      }
      groups.append(el("table", { class: "data-table", id: "health-groups-table" },
        el("thead", {}, el("tr", {}, ...["Group", "Running", "Queued", "Limit", ""].map((t) => el("th", { scope: "col" }, t)))), tbody));
    }

    clear(windows);
    const held = Array.isArray(h.usage_windows) ? h.usage_windows : [];
    if (!held.length) windows.append(el("p", { class: "hint" }, "No usage window is held: agent jobs start as usual."));
    for (const w of held) {
      windows.append(el("p", { class: "usage-window", dataset: { account: w.account } },
        `account "${w.account}" out of usage until ${fmtClock(w.closed_until)} (${fmtAgo(w.closed_until)})`,
        w.limited_job ? " · hit by " : "", w.limited_job ? jobLink(w.limited_job) : null,
        w.message ? el("span", { class: "reason" }, ` · ${w.message}`) : null));
    }
    return res;
  }

  // -- the series ---------------------------------------------------------------------------------

  function merge(fresh) {
    const last = samples.length ? samples[samples.length - 1].t : -Infinity;
    for (const s of fresh) if (s && s.t > last) samples.push(s);
    const cutoff = Date.now() / 1000 - SPAN;
    while (samples.length && samples[0].t < cutoff) samples.shift();
  }

  function draw() {
    chart.dataset.samples = String(samples.length);
    if (!samples.length) {
      chartNote.textContent = "Waiting for the first sample (the server keeps one every 5 s).";
      return;
    }
    const { data, gpuCount } = columns(samples);
    // Rebuild when the series change (a GPU appears) or when there are enough points to draw lines.
    const shape = `${gpuCount}|${samples.length < 3}`;
    if (!plot || shape !== plotShape) {
      plot = drawResources(chart, samples, plot);
      plotShape = shape;
    } else {
      plot.setData(data);
    }
    chart.dataset.drawn = "true";
    const span = samples[samples.length - 1].t - samples[0].t;
    chartNote.textContent = `${samples.length} point(s) over ${fmtSeconds(span)}${seriesMissing ? " (this server keeps no series: drawn from /health since this page opened)" : ""}; the load multiplier stretches learned timeouts (right axis).`;
  }

  let first = true;
  async function refresh() {
    if (!alive || document.hidden) return; // a hidden tab pulls nothing; it catches up when shown
    const pulls = [
      fetchHealth().then(
        (h) => {
          if (!alive) return;
          setError("/health", null);
          const res = renderHealth(h);
          if (seriesMissing) {
            merge([{ t: Date.now() / 1000, cpu_percent: res.cpu_percent, memory_percent: res.memory_percent,
              load_multiplier: res.multiplier, gpus: Array.isArray(res.gpu) ? res.gpu.map((g) => ({ index: g.index, utilization: g.util_percent, memory_percent: g.mem_total ? (g.mem_used / g.mem_total) * 100 : null })) : null }]);
          }
        },
        (err) => alive && setError("/health", err),
      ),
    ];
    if (!seriesMissing) {
      // The whole hour once, then only what is new (plus some overlap; merge drops what we have).
      const seconds = first || !samples.length ? SPAN : Math.min(SPAN, Math.ceil(Date.now() / 1000 - samples[samples.length - 1].t) + 30);
      pulls.push(rpc.call("server.resources", { seconds }).then(
        (r) => {
          if (!alive) return;
          setError("server.resources", null);
          merge((r && r.samples) || []);
          first = false;
        },
        (err) => {
          if (!alive) return;
          if (isMethodMissing(err)) seriesMissing = true;
          else setError("server.resources", err);
        },
      ));
    }
    await Promise.all(pulls);
    if (alive) draw();
  }

  const timer = setInterval(refresh, REFRESH_MS);
  const onVisible = () => !document.hidden && refresh();
  document.addEventListener("visibilitychange", onVisible);
  const stopWidth = followWidth(chart, () => plot, HEIGHT);

  const renderTasks = throttle(() => alive && renderTaskLists(tasks, jobsNow.values()), 500);
  let jobsNow = new Map();
  const stopFeed = jobFeed(rpc, (map) => {
    jobsNow = map;
    setError("jobs.watch", null);
    renderTasks();
  }, { onError: (err) => setError("jobs.watch", err) });

  refresh();
  return () => {
    alive = false;
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
    stopWidth();
    stopFeed();
    renderTasks.cancel();
    if (plot) plot.destroy();
    view.remove();
  };
}
