// History view (#/history, #/history/<command>): for a command class, the distribution of its past durations
// with the learned timeout, p50 and p95 drawn on it, the estimator's own words for the timeout (description,
// rule, note), and the class's recent runs. Data: `history {limit: 500}` for the suggestions, `estimate
// {command}` for the timeout and its class, `history {category}` for the runs of that class (docs/timing.md).

import { clear, el, fmtAgo, fmtClock, fmtSeconds, jobLink, stateEl, throttle } from "./charts_common.js";
import { drawHistogram } from "./history_chart.js";
import { followWidth } from "./charts_uplot.js";

const SUGGESTION_LIMIT = 500;
const RUNS_LIMIT = 500;
const TABLE_ROWS = 50;

function errorText(err) {
  if (err && err.code === -32007 && err.data) {
    return `history store unavailable (${err.data.store || "store"}: ${err.data.reason || "down"}); retry in ${fmtSeconds(err.data.retry_in)}`;
  }
  return (err && err.message) || String(err);
}

export function mount(root, ctx) {
  const rpc = ctx.rpc;
  let alive = true;
  let records = []; // the newest runs of every command, for the suggestions
  let plot = null;
  let shown = null; // {command, category, runs, est}
  let generation = 0; // a newer pick wins over a slower answer to an older one

  const input = el("input", {
    id: "history-command", type: "text", list: "history-suggestions", autocomplete: "off", spellcheck: "false",
    placeholder: "a command, or a class such as pytest:tests/unit", "aria-label": "command or class",
  });
  const datalist = el("datalist", { id: "history-suggestions" });
  const form = el("form", { id: "history-form", class: "history-form" }, input, datalist,
    el("button", { type: "submit" }, "Show"));
  const picks = el("div", { class: "history-picks", id: "history-picks" });
  const errorBox = el("div", { class: "view-errors", role: "alert" });
  const heading = el("h3", { id: "history-title" });
  const estimateBox = el("dl", { id: "history-estimate", class: "history-estimate" });
  const chart = el("div", { id: "history-chart", class: "chart", role: "img", "aria-label": "durations of past runs" });
  const legend = el("p", { class: "chart-legend" },
    el("span", { class: "swatch swatch-completed" }), "completed ",
    el("span", { class: "swatch swatch-stopped" }), "timed out or cancelled (a lower bound) ",
    el("span", { class: "swatch swatch-failed" }), "failed or lost (not learned from) ",
    el("span", { class: "swatch swatch-timeout" }), "learned timeout ",
    el("span", { class: "swatch swatch-mark" }), "p50 / p95 (no load)");
  const note = el("p", { class: "hint", id: "history-note" });
  const tbody = el("tbody");
  const table = el("table", { id: "history-runs", class: "data-table" },
    el("thead", {}, el("tr", {}, ...["When", "Status", "Duration", "Exit", "Load ×", "Timeout", "Reason", "Job"].map((h) => el("th", { scope: "col" }, h)))),
    tbody);
  const result = el("div", { class: "history-result", hidden: true }, heading, estimateBox, chart, legend, note,
    el("h4", {}, "Recent runs"), table);
  const empty = el("p", { class: "hint", id: "history-empty" }, "Pick a command to see how long it takes.");
  const view = el("div", { id: "history", class: "view view-history" },
    el("h2", {}, "History"), form, picks, errorBox, empty, result);
  clear(root);
  root.append(view);

  function setError(err) {
    clear(errorBox);
    if (err) errorBox.append(el("p", { class: "error" }, errorText(err)));
  }

  // -- suggestions ------------------------------------------------------------------------------

  function categories() {
    const counts = new Map();
    for (const r of records) {
      if (!r.category) continue;
      const known = counts.get(r.category) || { category: r.category, runs: 0, command: r.command, last: r.started_at };
      known.runs += 1;
      counts.set(r.category, known);
    }
    return [...counts.values()].sort((a, b) => b.runs - a.runs || (b.last || 0) - (a.last || 0));
  }

  function renderSuggestions() {
    clear(datalist);
    const commands = new Set();
    for (const r of records) if (r.command && commands.size < 200) commands.add(r.command);
    for (const c of commands) datalist.append(el("option", { value: c }));
    const classes = categories();
    for (const c of classes.slice(0, 100)) {
      if (!commands.has(c.category)) datalist.append(el("option", { value: c.category, label: `class · ${c.runs} runs` }));
    }
    clear(picks);
    if (classes.length) picks.append(el("span", { class: "hint" }, "Most run: "));
    for (const c of classes.slice(0, 8)) {
      const button = el("button", { type: "button", class: "chip", title: c.command, dataset: { category: c.category } },
        `${c.category} (${c.runs})`);
      button.addEventListener("click", () => {
        input.value = c.command;
        show(c.command);
      });
      picks.append(button);
    }
  }

  async function loadSuggestions() {
    try {
      records = await rpc.call("history", { limit: SUGGESTION_LIMIT });
      if (!Array.isArray(records)) records = [];
      setError(null);
    } catch (err) {
      if (alive) setError(err);
      records = [];
    }
    if (alive) renderSuggestions();
  }

  // -- one class ----------------------------------------------------------------------------------

  // The text may be a command or a class key seen in the history: a class is shown through its newest command.
  function commandFor(text) {
    if (records.some((r) => r.command === text)) return text;
    const ofClass = records.find((r) => r.category === text);
    return ofClass ? ofClass.command : text;
  }

  async function show(text) {
    text = String(text || "").trim();
    if (!text) return;
    const mine = ++generation;
    const command = commandFor(text);
    try {
      const est = await rpc.call("estimate", { command });
      // The runs that taught the timeout: the level that answered (`basis`) when one did, else the class itself.
      const level = est.basis && est.basis !== "default" ? est.basis : est.category;
      const runs = level
        ? await rpc.call("history", { category: level, limit: RUNS_LIMIT })
        : await rpc.call("history", { command, limit: RUNS_LIMIT });
      if (!alive || mine !== generation) return;
      shown = { command, level, est, runs: Array.isArray(runs) ? runs : [] };
      setError(null);
      renderShown();
    } catch (err) {
      if (alive && mine === generation) setError(err);
    }
  }

  function fact(term, value, id) {
    if (value === null || value === undefined || value === "") return [];
    return [el("dt", {}, term), el("dd", { dataset: id ? { field: id } : {} }, value)];
  }

  function renderShown() {
    const { command, level, est, runs } = shown;
    empty.hidden = true;
    result.hidden = false;
    heading.textContent = `${level || command}`;
    heading.title = command;
    clear(estimateBox);
    const completed = runs.filter((r) => r.status === "completed").length;
    estimateBox.append(
      ...fact("Learned timeout", `${fmtSeconds(est.timeout)} (${est.timeout_source || "?"})`, "timeout"),
      ...fact("Where it comes from", est.description, "description"),
      ...fact("Rule", est.rule, "rule"),
      ...fact("p50 / p95", est.p50 || est.p95 ? `${fmtSeconds(est.p50)} / ${fmtSeconds(est.p95)} (normalised to no load)` : null, "quantiles"),
      ...fact("Samples", `${est.samples ?? 0} usable, ${est.lower_bounds ?? 0} lower bound(s); ${runs.length} run(s) shown, ${completed} completed`, "samples"),
      ...fact("Extension for a working job", est.extension ? fmtSeconds(est.extension) : null, "extension"),
      ...fact("Class of the command", est.category && est.category !== level ? est.category : null, "category"),
      ...fact("Note", est.note, "note"),
    );
    chart.dataset.timeout = String(est.timeout ?? "");
    chart.dataset.runs = String(runs.length);
    if (runs.length) {
      plot = drawHistogram(chart, runs, est, plot);
      chart.dataset.drawn = "true";
      note.textContent = "";
    } else {
      if (plot) plot.destroy();
      plot = null;
      clear(chart);
      chart.dataset.drawn = "false";
      note.textContent = "No finished runs of this class yet: the timeout is the default until 5 runs have ended.";
    }
    renderRuns(runs);
  }

  function renderRuns(runs) {
    clear(tbody);
    for (const r of runs.slice(0, TABLE_ROWS)) {
      tbody.append(el("tr", { dataset: { jobId: r.job_id || "" } },
        el("td", {}, el("time", { title: fmtClock(r.started_at) }, fmtAgo(r.started_at))),
        el("td", { class: "state" }, stateEl(r.status)),
        el("td", { class: "num" }, fmtSeconds(r.duration)),
        el("td", { class: "num" }, r.exit_code ?? "—"),
        el("td", { class: "num" }, r.load_multiplier ? Number(r.load_multiplier).toFixed(2) : "—"),
        el("td", { class: "num" }, r.timeout ? `${fmtSeconds(r.timeout)} ${r.timeout_source || ""}` : "—"),
        el("td", { class: "reason" }, r.reason || (r.stalled ? "stalled" : "")),
        el("td", {}, r.job_id ? jobLink(r.job_id) : "")));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault(); // no navigation (CSP form-action 'none'); the view answers in place
    show(input.value);
  });
  input.addEventListener("change", () => show(input.value)); // a suggestion picked from the list

  // A run of the shown class ended: draw it in (when the app has this connection watching jobs).
  const reload = throttle(() => {
    if (shown) show(shown.command);
    loadSuggestions();
  }, 3000);
  const off = rpc.on("jobs.changed", (params) => {
    if (!shown) return;
    for (const job of (params && params.jobs) || []) {
      const ended = job.ended_at && job.state !== "running";
      const basis = job.timeout_basis || {};
      if (ended && (job.command === shown.command || basis.category === shown.level || basis.category === shown.est.category)) {
        reload();
        return;
      }
    }
  });
  const stopWidth = followWidth(chart, () => plot, 280);

  // #/history/<command>: the app splits the hash at "/" and decodes each part; a command may hold "/".
  const wanted = ctx.params && ctx.params.length ? ctx.params.join("/") : null;
  loadSuggestions().then(() => {
    if (!alive) return;
    const first = wanted || (records[0] && records[0].command);
    if (first) {
      input.value = first;
      show(first);
    }
  });

  return () => {
    alive = false;
    off();
    reload.cancel();
    stopWidth();
    if (plot) plot.destroy();
    view.remove();
  };
}

