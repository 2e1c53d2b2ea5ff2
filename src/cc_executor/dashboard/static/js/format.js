// Shared formatting and DOM helpers. Everything that comes from a job (commands, output, labels, tool inputs)
// is untrusted: these helpers only ever set textContent and attributes, never HTML.

export const LIVE_STATES = new Set(["queued", "running", "paused"]);
export const FINAL_STATES = new Set(["completed", "failed", "cancelled", "timed_out", "lost"]);

const DASH = "\u2013";

export function isLive(state) {
  return LIVE_STATES.has(state);
}

// 4.2 s, 3m 05s, 2h 03m, 3d 04h
export function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return DASH;
  if (s < 0) s = 0;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, "0")}h`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function bytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${UNITS[i]}`;
}

// An output rate: bytes per second, blank when nothing flows.
export function rate(bytesPerSecond) {
  if (!bytesPerSecond || bytesPerSecond < 1) return "";
  return `${bytes(bytesPerSecond)}/s`;
}

export function ago(epoch) {
  if (!epoch) return DASH;
  const s = Date.now() / 1000 - epoch;
  if (s < 60) return `${Math.max(0, Math.floor(s))} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// Local wall-clock time of an epoch (seconds), with the date when it is not today.
export function time(epoch) {
  if (!epoch) return DASH;
  const d = new Date(epoch * 1000);
  const today = new Date();
  const t = d.toLocaleTimeString([], { hour12: false });
  return d.toDateString() === today.toDateString() ? t : `${d.toLocaleDateString()} ${t}`;
}

export function cost(usd) {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return DASH;
  return usd < 1 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function stateBadge(state) {
  const span = document.createElement("span");
  setBadge(span, state);
  return span;
}

// Update a badge made by stateBadge in place (no new element for every event).
export function setBadge(span, state) {
  const s = state || "unknown";
  span.className = `badge state-${s.replace(/[^a-z_]/g, "")}`;
  span.textContent = s.replace("_", " ");
}

// el("td", {className: "x", title: "y", dataset: {jobId: id}}, child, "text", ...): build DOM without HTML.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "attrs") for (const [a, av] of Object.entries(v)) node.setAttribute(a, av);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// Set a node's text only when it changed: the jobs table updates hundreds of cells, and an unchanged write
// still costs a style recalculation.
export function setText(node, text) {
  const t = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== t) node.textContent = t;
}

// Cut a long text for a cell; the whole text goes in the title tooltip.
export function cut(text, max = 120) {
  const t = text || "";
  return t.length > max ? t.slice(0, max - 1) + "\u2026" : t;
}

export function labelsText(labels) {
  if (!labels) return "";
  return Object.entries(labels).map(([k, v]) => (v === "" || v === null ? k : `${k}=${v}`)).join(" ");
}
