// The jobs table: `jobs.watch` once, then `jobs.changed` notifications (no polling).
//
// Rows are keyed by job id and updated in place; every change only marks its row dirty, and one
// requestAnimationFrame per batch writes the cells that changed. The table is never rebuilt for an event.
// Rows off screen (an IntersectionObserver says which are near the viewport) are written at most once a
// second, by the ticker, instead of on every batch: with 200 busy jobs most rows are off screen, and each
// write there still costs the table a layout (docs/dashboard.md, "Responsiveness", has the figures).

import { bytes, cost, cut, duration, el, FINAL_STATES, isLive, labelsText, rate, setBadge, setText } from "./format.js";

const WATCH_LIMIT = 500; // the newest jobs the table starts with; later ones arrive by jobs.changed
const MAX_ROWS = 1000; // beyond this the oldest ended jobs leave the table (memory stays bounded)
const RATE_STALE_MS = 2500; // no output_bytes change for this long: the rate shows nothing

const STATE_FILTERS = [
  ["all", "All"],
  ["live", "Live (queued, running, paused)"],
  ["running", "Running"],
  ["paused", "Paused"],
  ["queued", "Queued"],
  ["ended", "Ended (any)"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
  ["timed_out", "Timed out"],
  ["lost", "Lost"],
];

const COLUMNS = [
  ["state", "State"],
  ["id", "Job"],
  ["command", "Command"],
  ["elapsed", "Elapsed"],
  ["timeout", "Timeout"],
  ["output", "Output"],
  ["rate", "Rate"],
  ["group", "Group / queue"],
  ["agent", "Agent"],
  ["labels", "Labels"],
];

function matchesState(job, wanted) {
  switch (wanted) {
    case "all":
      return true;
    case "live":
      return isLive(job.state);
    case "ended":
      return FINAL_STATES.has(job.state);
    default:
      return job.state === wanted;
  }
}

function searchText(job) {
  return `${job.job_id} ${job.command || ""} ${labelsText(job.labels)}`.toLowerCase();
}

function elapsedOf(job, nowS) {
  if (job.started_at) return (job.ended_at || nowS) - job.started_at;
  if (job.state === "queued" && job.created_at) return nowS - job.created_at;
  return job.duration ?? null;
}

function timeoutText(job) {
  if (!job.timeout) return job.timeout_source ? `none \u00b7 ${job.timeout_source}` : "";
  return job.timeout_source ? `${duration(job.timeout)} \u00b7 ${job.timeout_source}` : duration(job.timeout);
}

function groupText(job) {
  const parts = [];
  if (job.group) parts.push(job.group);
  if (job.queue && job.queue !== job.group) parts.push(job.queue);
  return parts.join(" / ");
}

function agentText(job) {
  const a = job.agent;
  if (!a) return "";
  const parts = [];
  if (a.total_cost_usd !== undefined && a.total_cost_usd !== null) parts.push(cost(a.total_cost_usd));
  if (a.num_turns !== undefined && a.num_turns !== null) parts.push(`${a.num_turns} turns`);
  return parts.join(" \u00b7 ") || (a.model || "agent");
}

export function mount(root, ctx) {
  const rows = new Map(); // job_id -> row
  let order = []; // job ids, newest first (created_at desc)
  const dirty = new Set();
  const stale = new Set(); // changed rows off screen: written by the next tick, or when they scroll into view
  const onScreen = new Set(); // ids of rows in or near the viewport
  let refilter = false;
  let frame = 0;
  let ended = false;
  const filter = { state: "all", text: "" };

  // ---- the page ---------------------------------------------------------------------------------------
  const stateSelect = el("select", { id: "jobs-state", title: "Show jobs in this state" });
  for (const [value, label] of STATE_FILTERS) stateSelect.append(el("option", { value }, label));
  const search = el("input", {
    id: "jobs-search",
    type: "search",
    placeholder: "Search command, labels, id",
    spellcheck: false,
    autocomplete: "off",
  });
  const count = el("span", { id: "jobs-count", className: "muted" });
  const toolbar = el("div", { className: "toolbar" }, el("h2", {}, "Jobs"), stateSelect, search, count);

  const headRow = el("tr");
  for (const [key, label] of COLUMNS) headRow.append(el("th", { className: key }, label));
  const tbody = el("tbody");
  const empty = el("tr", { className: "empty" }, el("td", { colSpan: COLUMNS.length }, "Loading\u2026"));
  tbody.append(empty);
  const table = el("table", { id: "jobs", className: "jobs" }, el("thead", {}, headRow), tbody);
  const status = el("p", { id: "jobs-status", className: "muted", role: "status" });
  root.append(toolbar, status, el("div", { className: "table-wrap" }, table));

  stateSelect.addEventListener("change", () => {
    filter.state = stateSelect.value;
    refilter = true;
    schedule();
  });
  search.addEventListener("input", () => {
    filter.text = search.value.trim().toLowerCase();
    refilter = true;
    schedule();
  });
  // One listener for all rows (rows come and go; event delegation needs no per-row bookkeeping).
  tbody.addEventListener("click", (ev) => {
    if (ev.target.closest("a")) return; // a link in the row does its own thing
    const tr = ev.target.closest("tr[data-job-id]");
    if (tr && !window.getSelection().toString()) ctx.navigate(`#/job/${encodeURIComponent(tr.dataset.jobId)}`);
  });
  tbody.addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr[data-job-id]");
    if (tr && ev.key === "Enter") ctx.navigate(`#/job/${encodeURIComponent(tr.dataset.jobId)}`);
  });

  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.jobId;
      if (!entry.isIntersecting) {
        onScreen.delete(id);
      } else {
        onScreen.add(id);
        if (stale.delete(id)) {
          dirty.add(id);
          schedule();
        }
      }
    }
  }, { rootMargin: "300px 0px" });

  // ---- rows -----------------------------------------------------------------------------------------
  function makeRow(job) {
    const tr = el("tr", { tabIndex: 0, dataset: { jobId: job.job_id } });
    const cells = {};
    for (const [key] of COLUMNS) {
      const td = el("td", { className: key });
      cells[key] = td;
      tr.append(td);
    }
    const badge = el("span");
    const stalled = el("span", { className: "stalled-mark", title: "stalled: no output for its idle timeout" });
    cells.state.append(badge, stalled);
    const link = el("a", { href: `#/job/${encodeURIComponent(job.job_id)}`, className: "mono" });
    cells.id.append(link);
    return { job, tr, cells, badge, stalled, link, rate: 0, bytesAt: 0, lastBytes: null, hay: "", shown: true };
  }

  function upsert(job) {
    if (!job || !job.job_id) return;
    const now = performance.now();
    let row = rows.get(job.job_id);
    if (!row) {
      row = makeRow(job);
      rows.set(job.job_id, row);
      row.lastBytes = job.output_bytes ?? 0;
      row.bytesAt = now;
      row.isNew = true;
    } else {
      // Output rate from the output_bytes deltas between two summaries of this job.
      const b = job.output_bytes ?? 0;
      if (row.lastBytes !== null && b > row.lastBytes) {
        const dt = Math.max(0.25, (now - row.bytesAt) / 1000);
        row.rate = (b - row.lastBytes) / dt;
        row.bytesAt = now;
      }
      row.lastBytes = b;
      row.job = job;
    }
    row.hay = searchText(job);
    dirty.add(job.job_id);
  }

  function remove(jobId) {
    const row = rows.get(jobId);
    if (!row) return;
    rows.delete(jobId);
    dirty.delete(jobId);
    stale.delete(jobId);
    onScreen.delete(jobId);
    seen.unobserve(row.tr);
    row.tr.remove();
    order = order.filter((id) => id !== jobId);
  }

  function createdKey(job) {
    return job.created_at || job.started_at || 0;
  }

  // Place a new row by created_at (newest first): a binary search over `order`, then one insertBefore.
  function place(row) {
    const key = createdKey(row.job);
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = rows.get(order[mid]);
      if (other && createdKey(other.job) >= key) lo = mid + 1;
      else hi = mid;
    }
    const before = lo < order.length ? rows.get(order[lo]) : null;
    order.splice(lo, 0, row.job.job_id);
    tbody.insertBefore(row.tr, before ? before.tr : null);
    seen.observe(row.tr);
  }

  function trim() {
    if (rows.size <= MAX_ROWS) return;
    for (let i = order.length - 1; i >= 0 && rows.size > MAX_ROWS; i--) {
      const row = rows.get(order[i]);
      if (row && FINAL_STATES.has(row.job.state)) remove(order[i]);
    }
  }

  function renderRow(row, nowS, nowMs) {
    const { job, cells } = row;
    setBadge(row.badge, job.state);
    row.stalled.hidden = !job.stalled;
    setText(row.stalled, job.stalled ? "stalled" : "");
    setText(row.link, job.job_id.slice(0, 8));
    if (row.link.title !== job.job_id) row.link.title = job.job_id;
    const command = job.command || "";
    setText(cells.command, cut(command, 100));
    if (cells.command.title !== command) cells.command.title = command;
    renderElapsed(row, nowS);
    setText(cells.timeout, timeoutText(job));
    const basis = job.timeout_basis && job.timeout_basis.description ? job.timeout_basis.description : "";
    if (cells.timeout.title !== basis) cells.timeout.title = basis;
    setText(cells.output, bytes(job.output_bytes ?? 0));
    renderRate(row, nowMs);
    setText(cells.group, groupText(job));
    setText(cells.agent, agentText(job));
    const labels = labelsText(job.labels);
    setText(cells.labels, cut(labels, 60));
    if (cells.labels.title !== labels) cells.labels.title = labels;
    row.tr.classList.toggle("live", isLive(job.state));
  }

  function renderElapsed(row, nowS) {
    setText(row.cells.elapsed, duration(elapsedOf(row.job, nowS)));
  }

  function renderRate(row, nowMs) {
    if (!isLive(row.job.state) || nowMs - row.bytesAt > RATE_STALE_MS) row.rate = 0;
    setText(row.cells.rate, rate(row.rate));
  }

  function applyFilter(row) {
    const show = matchesState(row.job, filter.state) && (!filter.text || row.hay.includes(filter.text));
    if (row.shown !== show) {
      row.shown = show;
      row.tr.hidden = !show;
    }
  }

  function schedule() {
    if (!frame && !ended) frame = requestAnimationFrame(flush);
  }

  // The one place the table's DOM is written.
  function flush() {
    frame = 0;
    const nowS = Date.now() / 1000;
    const nowMs = performance.now();
    for (const id of dirty) {
      const row = rows.get(id);
      if (!row) continue;
      if (!refilter) applyFilter(row);
      if (row.isNew) {
        row.isNew = false;
        place(row);
      } else if (!onScreen.has(id)) {
        stale.add(id); // off screen: the next tick writes it
        continue;
      }
      renderRow(row, nowS, nowMs);
    }
    dirty.clear();
    if (refilter) {
      refilter = false;
      for (const row of rows.values()) applyFilter(row);
    }
    trim();
    let shown = 0;
    for (const row of rows.values()) if (row.shown) shown++;
    empty.hidden = shown > 0;
    if (!empty.hidden) empty.firstChild.textContent = rows.size ? "No job matches the filter" : "No jobs yet";
    if (empty.parentNode !== tbody) tbody.append(empty);
    setText(count, rows.size === shown ? `${rows.size} jobs` : `${shown} of ${rows.size} jobs`);
  }

  // Each second: the rows changed off screen are written, and elapsed ticks locally for live jobs on screen
  // (their rate fades when they go quiet).
  const ticker = setInterval(() => {
    if (ended) return;
    requestAnimationFrame(() => {
      const nowS = Date.now() / 1000;
      const nowMs = performance.now();
      for (const id of stale) {
        const row = rows.get(id);
        if (row) renderRow(row, nowS, nowMs);
      }
      stale.clear();
      for (const id of onScreen) {
        const row = rows.get(id);
        if (!row || !row.shown || !isLive(row.job.state)) continue;
        renderElapsed(row, nowS);
        renderRate(row, nowMs);
      }
    });
  }, 1000);

  // ---- the server -----------------------------------------------------------------------------------
  const offChanged = ctx.rpc.on("jobs.changed", (params) => {
    for (const job of params.jobs || []) upsert(job);
    for (const id of params.removed || []) remove(id);
    schedule();
  });

  async function watch() {
    try {
      const res = await ctx.rpc.call("jobs.watch", { limit: WATCH_LIMIT });
      if (ended) return;
      const seen = new Set();
      for (const job of res.jobs || []) {
        upsert(job);
        seen.add(job.job_id);
      }
      // After a reconnect: a job the list no longer has was pruned meanwhile (or is older than the limit).
      for (const id of [...rows.keys()]) if (!seen.has(id)) remove(id);
      setText(status, "");
      schedule();
    } catch (err) {
      if (!ended) setText(status, `Could not watch jobs: ${err.message}`);
      empty.firstChild.textContent = "";
    }
  }
  ctx.onReconnect(watch);
  watch();

  return () => {
    ended = true;
    clearInterval(ticker);
    seen.disconnect();
    if (frame) cancelAnimationFrame(frame);
    offChanged();
    ctx.rpc.call("jobs.unwatch", {}).catch(() => {});
  };
}
