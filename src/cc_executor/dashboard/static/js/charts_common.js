// Shared helpers of the attention, history and health views (helper B's modules).
// Why our own and not format.js: these views must keep working whatever shape the shared helpers take; the
// few formatters here are small. Every piece of untrusted text goes through textContent (see el()).

export const TOKEN_KEY = "cc-executor.token";

// Job states the server uses (src/cc_executor/protocol/state.py).
export const FINAL_STATES = new Set(["completed", "failed", "cancelled", "timed_out", "timeout", "lost"]);
export const LIVE_STATES = new Set(["queued", "running", "paused"]);

// el("td", {class: "x", dataset: {jobId: id}}, "text", child) — strings become text nodes, never HTML.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// 0.0021 → "2.1 ms", 75 → "1 min 15 s", 7300 → "2 h 1 min".
export function fmtSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(Number(s))) return "—";
  s = Number(s);
  if (s < 0) s = 0;
  if (s < 1) return s < 0.001 ? `${(s * 1e6).toFixed(0)} µs` : `${Number((s * 1000).toPrecision(2))} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1).replace(/\.0$/, "") : Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = Math.round(s - m * 60);
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.round((s - h * 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

// An epoch (seconds) as "12 s ago" / "in 3 min", with the local time in a title for hovering.
export function fmtAgo(epoch, now = Date.now() / 1000) {
  if (!epoch) return "—";
  const d = now - epoch;
  return d >= 0 ? `${fmtSeconds(d)} ago` : `in ${fmtSeconds(-d)}`;
}

export function fmtClock(epoch) {
  if (!epoch) return "";
  return new Date(epoch * 1000).toLocaleString();
}

export function timeEl(epoch) {
  return el("time", { datetime: epoch ? new Date(epoch * 1000).toISOString() : null, title: fmtClock(epoch) }, fmtAgo(epoch));
}

export function pct(value) {
  return value === null || value === undefined ? "—" : `${Number(value).toFixed(1)} %`;
}

export function jobLink(jobId, label) {
  return el("a", { href: `#/job/${encodeURIComponent(jobId)}`, class: "job-link" }, label || jobId);
}

// A command cut for a list; the whole of it in the title.
export function commandEl(command, max = 160) {
  const text = String(command ?? "");
  return el("code", { class: "command", title: text }, text.length > max ? `${text.slice(0, max - 1)}…` : text);
}

export function stateEl(state) {
  return el("span", { class: `vstate vstate-${String(state || "unknown").replace(/[^a-z_]/g, "")}` }, state || "?");
}

// GET /health with the tab's token, so the report is complete (history.last_error).
export async function fetchHealth() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch("/health", { headers, cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`/health answered ${response.status}`);
  return response.json();
}

// Run fn at most once per `ms`, the last call always winning (trailing edge).
export function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  const wrapped = () => {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (pending) {
        pending = false;
        wrapped();
      }
    }, ms);
  };
  wrapped.cancel = () => {
    clearTimeout(timer);
    timer = null;
    pending = false;
  };
  return wrapped;
}

function isMethodMissing(err) {
  return err && (err.code === -32601 || /method not found/i.test(String(err.message)));
}

// Every job the server lists, kept current: jobs.watch once, then its jobs.changed notifications (no polling).
// A server without jobs.watch (older) is polled with jobs.list every 5 s instead. onChange(map, changedIds)
// gets the Map job_id → summary. Returns a stop function (it leaves the watch itself on: the app's jobs view
// may use it too, and jobs.watch is per connection, not per view).
export function jobFeed(rpc, onChange, { limit = 500, onError } = {}) {
  const jobs = new Map();
  let stopped = false;
  let poll = null;
  const seen = new Set(); // ids set by a notification before the watch answered: the answer is older
  const off = rpc.on("jobs.changed", (params) => {
    if (stopped) return;
    const changed = [];
    for (const job of (params && params.jobs) || []) {
      if (!job || !job.job_id) continue;
      jobs.set(job.job_id, job);
      seen.add(job.job_id);
      changed.push(job.job_id);
    }
    for (const id of (params && params.removed) || []) {
      // pruned by retention: gone from the server
      if (jobs.delete(id)) changed.push(id);
    }
    prune(jobs);
    onChange(jobs, changed);
  });
  const load = (result) => {
    const list = Array.isArray(result) ? result : (result && result.jobs) || [];
    for (const job of list) if (job && job.job_id && !seen.has(job.job_id)) jobs.set(job.job_id, job);
    onChange(jobs, null);
  };
  rpc
    .call("jobs.watch", { limit })
    .then((result) => !stopped && load(result))
    .catch((err) => {
      if (stopped) return;
      if (!isMethodMissing(err)) {
        if (onError) onError(err);
        return;
      }
      const pull = () =>
        rpc.call("jobs.list", { limit }).then(
          (result) => {
            if (stopped) return;
            jobs.clear();
            seen.clear();
            load(result);
          },
          (e) => onError && onError(e),
        );
      pull();
      poll = setInterval(pull, 5000);
    });
  return () => {
    stopped = true;
    off();
    if (poll) clearInterval(poll);
  };
}

// Bound the map over a long-open tab: drop the oldest ended jobs past 2,000.
function prune(jobs) {
  if (jobs.size <= 2000) return;
  const ended = [...jobs.values()]
    .filter((j) => FINAL_STATES.has(j.state))
    .sort((a, b) => (a.ended_at || a.created_at || 0) - (b.ended_at || b.created_at || 0));
  for (const job of ended.slice(0, jobs.size - 2000)) jobs.delete(job.job_id);
}

// Colours the charts use, read from CSS custom properties (views.css) so a theme can change them.
export function cssColor(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

// A view's error box: one line per failing source (an RPC the view pulls), cleared when that source answers again.
// Returns { box, set(source, err | null) }.
export function errorList() {
  const errors = new Map(); // source → message
  const box = el("div", { class: "view-errors", role: "alert" });
  function set(source, err) {
    if (err) errors.set(source, `${source}: ${err.message || err}`);
    else errors.delete(source);
    clear(box);
    for (const text of errors.values()) box.append(el("p", { class: "error" }, text));
  }
  return { box, set };
}
